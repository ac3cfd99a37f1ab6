#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import RecastCore

/// The memory-limit facility read against made-up cgroup hierarchies (v2 and v1), and its arithmetic.
/// The real limits are exercised by Tests/HardeningTests/LimitTests.swift with `ulimit -v` and a cgroup.
@Suite struct MemoryLimitTests {
    /// A scratch folder with files written from a dictionary of relative paths.
    final class Tree {
        let root = "/tmp/recast-memlimit-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
        init(_ files: [String: String]) throws {
            for (path, text) in files {
                let full = root + "/" + path
                var dir = ""
                for part in full.split(separator: "/").dropLast() {
                    dir += "/" + part
                    mkdir(dir, 0o755)
                }
                try FileSystem.writeAll(full, Array(text.utf8))
            }
        }
        deinit { FileSystem.removeTree(root) }
    }

    @Test func cgroupV2LimitLessWorkingSetAndAncestors() throws {
        let tree = try Tree([
            "sys/a/memory.max": "max\n",
            "sys/a/b/memory.max": "1073741824\n",
            "sys/a/b/memory.current": "300000000\n",
            "sys/a/b/memory.stat": "anon 200000000\nfile 100000000\ninactive_file 50000000\n",
            "sys/a/b/c/memory.max": "2147483648\n",
            "sys/a/b/c/memory.current": "10000000\n",
        ])
        let tree2 = try Tree([
            "cgroup": "0::/a/b/c\n",
            "mountinfo": "25 1 0:22 / /proc rw - proc proc rw\n31 23 0:27 / \(tree.root)/sys rw,nosuid - cgroup2 cgroup2 rw\n",
        ])
        let limits = MemoryLimit.cgroups(membershipFile: tree2.root + "/cgroup", mountinfoFile: tree2.root + "/mountinfo")
        #expect(limits.map(\.available) == [2_147_483_648 - 10_000_000, 1_073_741_824 - 250_000_000])
        let binding = try #require(limits.min { $0.available < $1.available })
        #expect(binding.binding == "the memory.max of 1.07 GB of cgroup /a/b, 250 MB of it in use")
    }

    @Test func cgroupV1MemoryControllerWithMountRoot() throws {
        let tree = try Tree([
            "memory/job/memory.limit_in_bytes": "536870912\n",
            "memory/job/memory.usage_in_bytes": "100000000\n",
            "memory/job/memory.stat": "cache 10\ntotal_inactive_file 20000000\n",
            "memory/memory.limit_in_bytes": "9223372036854771712\n",
        ])
        // The mount's root is /outer, as inside a container: the path /outer/job lives at <mount>/job.
        let tree2 = try Tree([
            "cgroup": "5:cpu,cpuacct:/outer/job\n4:memory:/outer/job\n0::/\n",
            "mountinfo": "35 31 0:32 /outer \(tree.root)/memory rw,relatime - cgroup cgroup rw,memory\n",
        ])
        let limits = MemoryLimit.cgroups(membershipFile: tree2.root + "/cgroup", mountinfoFile: tree2.root + "/mountinfo")
        #expect(limits.map(\.available) == [536_870_912 - 80_000_000], "the unlimited root is skipped")
        #expect(limits.first?.binding.contains("memory.limit_in_bytes") == true)
    }

    @Test func mountinfoEscapes() {
        #expect(MemoryLimit.unescapeMountField("/a\\040b\\134c") == "/a b\\c")
    }

    @Test func needsSaturateInsteadOfOverflowing() {
        var need = MemoryNeed()
        need.add("scores", [Int.max / 2, 3])
        need.add("more", [10])
        #expect(need.bytes == Int.max)
        #expect(MemoryNeed.product([1 << 40, 1 << 30]) == Int.max)
        #expect(MemoryNeed.product([-1, 5]) == Int.max)
        let limit = MemoryLimit(available: 1_000_000, binding: "a test limit")
        #expect(limit.refusal(needing: 999_999, for: "x") == nil)
        #expect(need.refusal(under: limit, for: "a pass") == "needs more than 9223372 TB of memory for a pass (scores more than 9223372 TB, more 40 B), but only 1.00 MB is available (a test limit)")
    }

    @Test func currentLimitIsBelowTheMachine() {
        let now = MemoryLimit.current()
        #expect(now.available > 0 && now.available < Int.max, "\(now)")
        #expect(MemoryLimit.virtualSize().map { $0 > 0 } == true)
    }
}
