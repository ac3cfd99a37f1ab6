/// A file Recast's HDF5 reader cannot give tensors from (damaged, truncated, or using a feature it
/// does not read), or a failure of the HDF5 C library while writing.
///
/// Carries the file, the HDF5 object (an absolute path inside the file such as `/layers/dense/vars/0`),
/// what Recast was doing, the reason, and, for the C library, its error stack, so the message says
/// both where and why.
public struct HDF5Error: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    /// The absolute HDF5 path of the object, or nil when the error concerns the file as a whole.
    public var object: String?
    /// What Recast was doing, as a phrase: `opening the file`, `reading the dataset`.
    public var operation: String
    /// Recast's explanation, with what to do about it, when it has one.
    public var reason: String?
    /// HDF5's error stack, the API call first and the innermost cause last, one `function: message` per entry.
    public var stack: [String]

    public init(file: String, object: String? = nil, operation: String, reason: String? = nil, stack: [String] = []) {
        self.file = file
        self.object = object
        self.operation = operation
        self.reason = reason
        self.stack = stack
    }

    /// `file: HDF5 object '/a/b': reading the dataset failed: reason (HDF5: H5Dread: …; H5D__read: …)`.
    public var description: String {
        var s = file
        if let object { s += ": HDF5 object '\(object)'" }
        s += ": \(operation) failed"
        if let reason = reason ?? HDF5Error.explain(stack) { s += ": " + reason }
        if !stack.isEmpty {
            // One line: HDF5's own messages can carry line breaks and padding.
            let flat = stack.map { $0.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: " ") }.joined(separator: " ") }
            s += " (HDF5 error stack: " + flat.joined(separator: "; ") + ")"
        }
        return s
    }

    /// The reason in a few words, without the stack: for lists of skipped objects.
    var summary: String { "\(operation) failed: " + (reason ?? HDF5Error.explain(stack) ?? "HDF5 gave no reason") }

    /// Turns the well-known innermost HDF5 messages into advice.
    static func explain(_ stack: [String]) -> String? {
        let text = stack.joined(separator: "\n").lowercased()
        if text.contains("truncated file") {
            return "the file is shorter than its header says (truncated, e.g. by an interrupted copy or download); obtain the file again"
        }
        if text.contains("no space left") {
            return "no space left on the device; free some space or write somewhere else"
        }
        if text.contains("permission denied") {
            return "permission denied; check the file's permissions"
        }
        if text.contains("file signature not found") {
            return "not an HDF5 file"
        }
        if text.contains("filter") && (text.contains("not registered") || text.contains("not available") || text.contains("can't open")) {
            return "the dataset is compressed with an HDF5 filter this library lacks; re-save it with gzip or no compression"
        }
        if text.contains("unable to read superblock") || text.contains("unable to load superblock") {
            return "the file's header (superblock) cannot be read: the file is damaged or incomplete; obtain it again"
        }
        if text.contains("checksum") {
            return "stored data fails its checksum: the file is damaged; obtain it again"
        }
        if text.contains("unable to lock file") {
            return "another process holds a lock on the file (is it still being written?); wait for it to finish"
        }
        if text.contains("already open") {
            return "the file is already open in this process in a conflicting mode"
        }
        guard let last = stack.last else { return nil }
        // The innermost entry is the most specific; drop its function name.
        if let colon = last.firstRange(of: ": ") { return String(last[colon.upperBound...]) }
        return last
    }
}

/// Where something happens: the file and the HDF5 object, for the error it may raise.
struct Site: Sendable {
    var file: String
    var object: String?

    func at(_ object: String) -> Site { Site(file: file, object: object) }

    /// An error of Recast's own about this object (no HDF5 stack).
    func failure(_ operation: String, _ reason: String) -> HDF5Error {
        HDF5Error(file: file, object: object, operation: operation, reason: reason)
    }
}
