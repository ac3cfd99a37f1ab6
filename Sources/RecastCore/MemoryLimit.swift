#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How much more memory this process may take before the kernel refuses it or kills it: the smallest
/// of the address-space limit (`ulimit -v`, less what is mapped already), the memory limit of every
/// cgroup the process is in (v2 `memory.max` or v1 `memory.limit_in_bytes`, less the group's working
/// set), and the machine's available memory (`MemAvailable` plus free swap).
///
/// Commands work out what a job will need before allocating it and ask `refusal(needing:for:)`;
/// comparing with physical RAM alone lets a job inside a 1 GiB container be killed by the
/// out-of-memory killer instead of being refused with a message.
public struct MemoryLimit: Sendable, CustomStringConvertible {
    /// Bytes this process can still allocate.
    public var available: Int
    /// Which limit binds, in words: "the address-space limit (ulimit -v) of 1.07 GB, 0.31 GB of it mapped already".
    public var binding: String

    public init(available: Int, binding: String) {
        self.available = max(available, 0)
        self.binding = binding
    }

    public var description: String { "\(ByteSize.format(available)) available (\(binding))" }

    /// The limit that applies now. Each call reads the kernel's figures afresh.
    public static func current() -> MemoryLimit {
        var candidates: [MemoryLimit] = []
        if let a = addressSpace() { candidates.append(a) }
        candidates += cgroups()
        if let p = physical() { candidates.append(p) }
        return candidates.min { $0.available < $1.available } ?? MemoryLimit(available: Int.max, binding: "no known limit")
    }

    /// nil when `bytes` fits under the limit; otherwise a message giving both numbers, such as
    /// "needs 40.0 GB of memory for the attention scores, but only 1.02 GB is available (the memory.max …)".
    public func refusal(needing bytes: Int, for what: String) -> String? {
        guard bytes > available else { return nil }
        return "needs \(MemoryLimit.format(bytes)) of memory for \(what), but only \(ByteSize.format(available)) is available (\(binding))"
    }

    /// `ByteSize.format`, with sizes that overflowed shown as such.
    public static func format(_ bytes: Int) -> String {
        bytes == Int.max ? "more than \(ByteSize.format(Int.max))" : ByteSize.format(bytes)
    }

    // MARK: the three sources

    /// RLIMIT_AS less the current virtual size (`/proc/self/statm`), since mappings count against it.
    public static func addressSpace() -> MemoryLimit? {
        var rl = rlimit()
        guard getrlimit(RLIMIT_AS_VALUE, &rl) == 0, rl.rlim_cur != rlim_t.max else { return nil }  // RLIM_INFINITY
        let limit = rl.rlim_cur > UInt64(Int.max) ? Int.max : Int(rl.rlim_cur)
        let mapped = virtualSize() ?? 0
        return MemoryLimit(available: limit - mapped,
                           binding: "the address-space limit (ulimit -v) of \(ByteSize.format(limit)), \(ByteSize.format(mapped)) of it mapped already")
    }

    /// The process's virtual size in bytes.
    public static func virtualSize() -> Int? {
        guard let text = readSmallFile("/proc/self/statm"), let first = text.split(separator: " ").first,
              let pages = Int(first) else { return nil }
        return pages.multipliedReportingOverflow(by: pageSize).partialValue
    }

    /// `MemAvailable` plus `SwapFree` from /proc/meminfo, or free physical pages where that is missing.
    static func physical() -> MemoryLimit? {
        if let info = readSmallFile("/proc/meminfo") {
            var fields: [Substring: Int] = [:]
            for line in info.split(separator: "\n") {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                if parts.count >= 2, let v = Int(parts[1]) { fields[parts[0]] = v &* 1024 }
            }
            if let avail = fields["MemAvailable:"] {
                let swap = fields["SwapFree:"] ?? 0
                return MemoryLimit(available: avail &+ swap,
                                   binding: "this machine's available memory" + (swap > 0 ? " and swap" : ""))
            }
        }
        let pages = sysconf(Int32(_SC_AVPHYS_PAGES))
        guard pages > 0 else { return nil }
        return MemoryLimit(available: pages.multipliedReportingOverflow(by: pageSize).partialValue,
                           binding: "this machine's free memory")
    }

    /// Every memory cgroup the process is in, and each of their ancestors: a limit on a parent binds too.
    /// The file names are parameters for tests, which describe a made-up hierarchy.
    static func cgroups(membershipFile: String = "/proc/self/cgroup", mountinfoFile: String = "/proc/self/mountinfo") -> [MemoryLimit] {
        guard let membership = readSmallFile(membershipFile), let mounts = readSmallFile(mountinfoFile) else { return [] }
        var out: [MemoryLimit] = []
        for line in membership.split(separator: "\n") {
            // "hierarchy-id:controllers:path"; the path may itself hold ':'.
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let controllers = parts[1].split(separator: ",")
            let v2 = parts[0] == "0" && parts[1].isEmpty
            guard v2 || controllers.contains("memory") else { continue }
            guard let (mountPoint, mountRoot) = cgroupMount(mounts, v2: v2) else { continue }
            var path = String(parts[2])
            if mountRoot != "/" {
                guard path.hasPrefix(mountRoot) else { continue }
                path = String(path.dropFirst(mountRoot.count))
            }
            var components = path.split(separator: "/").map(String.init)
            while true {
                let dir = mountPoint + (components.isEmpty ? "" : "/" + components.joined(separator: "/"))
                if let limit = cgroupLimit(dir, v2: v2, name: "/" + components.joined(separator: "/")) { out.append(limit) }
                if components.isEmpty { break }
                components.removeLast()
            }
        }
        return out
    }

    /// The mount point and mount root of the cgroup2 file system, or of the v1 hierarchy holding `memory`.
    static func cgroupMount(_ mountinfo: String, v2: Bool) -> (String, String)? {
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let before = halves[0].split(separator: " "), after = halves[1].split(separator: " ")
            guard before.count >= 5, after.count >= 3 else { continue }
            let type = after[0]
            if v2 ? type == "cgroup2" : (type == "cgroup" && after[2].split(separator: ",").contains("memory")) {
                return (unescapeMountField(before[4]), unescapeMountField(before[3]))
            }
        }
        return nil
    }

    /// mountinfo writes space, tab, newline and backslash as octal escapes.
    static func unescapeMountField(_ s: Substring) -> String {
        var bytes: [UInt8] = []
        var u = Array(s.utf8)[...]
        while let b = u.popFirst() {
            if b == 0x5C, u.count >= 3, let v = UInt8(String(decoding: u.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(v)
                u = u.dropFirst(3)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// One cgroup's limit less its working set (usage less inactive page cache, which the kernel
    /// reclaims before it kills anything); nil when the group has no limit.
    static func cgroupLimit(_ dir: String, v2: Bool, name: String) -> MemoryLimit? {
        let limitFile = v2 ? "memory.max" : "memory.limit_in_bytes"
        guard let text = readSmallFile(dir + "/" + limitFile)?.trimmingCharacters(in: "\n"),
              text != "max", let limit = Int(text) else { return nil }
        // v1 reports "no limit" as a huge page-rounded number.
        guard limit < Int.max / 2 else { return nil }
        let usage = readSmallFile(dir + "/" + (v2 ? "memory.current" : "memory.usage_in_bytes"))
            .flatMap { Int($0.trimmingCharacters(in: "\n")) } ?? 0
        var inactive = 0
        if let stat = readSmallFile(dir + "/memory.stat") {
            let key = v2 ? "inactive_file" : "total_inactive_file"
            for line in stat.split(separator: "\n") {
                let kv = line.split(separator: " ")
                if kv.count == 2, kv[0] == key, let v = Int(kv[1]) { inactive = v }
            }
        }
        let used = max(usage - inactive, 0)
        return MemoryLimit(available: limit - used,
                           binding: "the \(limitFile) of \(ByteSize.format(limit)) of cgroup \(name), \(ByteSize.format(used)) of it in use")
    }

    static var pageSize: Int { max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096) }

    /// Reads a small kernel file (their reported size is 0, so read until end of file); at most 1 MiB.
    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while out.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            out += chunk[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

#if canImport(Glibc)
private let RLIMIT_AS_VALUE = __rlimit_resource_t(RLIMIT_AS.rawValue)
#else
private let RLIMIT_AS_VALUE = RLIMIT_AS
#endif

/// A memory need added up part by part, saturating at `Int.max` instead of overflowing, so that sizes
/// from a hostile config or command line give a refusal rather than a trap.
public struct MemoryNeed: Sendable {
    public private(set) var bytes = 0
    /// The parts, largest first when described.
    public private(set) var parts: [(String, Int)] = []

    public init() {}

    /// Adds `count` × `factors` × `bytesEach` bytes, described as `what`.
    public mutating func add(_ what: String, _ factors: [Int], bytesEach: Int = 4) {
        let n = MemoryNeed.product(factors + [bytesEach])
        parts.append((what, n))
        bytes = MemoryNeed.sum(bytes, n)
    }

    /// Adds every part of `other`.
    public mutating func add(_ other: MemoryNeed) {
        for (what, n) in other.parts {
            parts.append((what, n))
            bytes = MemoryNeed.sum(bytes, n)
        }
    }

    /// The product of non-negative factors, `Int.max` when it overflows.
    public static func product(_ factors: [Int]) -> Int {
        var p = 1
        for f in factors {
            guard f >= 0 else { return Int.max }
            let (m, o) = p.multipliedReportingOverflow(by: f)
            if o { return Int.max }
            p = m
        }
        return p
    }

    public static func sum(_ a: Int, _ b: Int) -> Int {
        let (s, o) = a.addingReportingOverflow(b)
        return o ? Int.max : s
    }

    /// "attention scores 40.0 GB, weights 1.2 MB": the parts that matter, largest first.
    public var summary: String {
        let shown = parts.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }.prefix(4)
        return shown.map { "\($0.0) \(MemoryLimit.format($0.1))" }.joined(separator: ", ")
    }

    /// nil when the need fits under `limit`; otherwise the message giving the need, its main parts and the limit.
    public func refusal(under limit: MemoryLimit = .current(), for what: String) -> String? {
        limit.refusal(needing: bytes, for: "\(what) (\(summary))")
    }
}
