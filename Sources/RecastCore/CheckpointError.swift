/// A failure while reading or writing a checkpoint, carrying what a user needs to act on it:
/// the file, the object inside it (tensor, HDF5 path, config key), the byte offset where it applies, and why.
public struct CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    /// A phrase naming the object, such as `tensor 'h.0.attn.c_attn.weight'` or `HDF5 object '/layers/dense'`.
    public var object: String?
    public var offset: Int?
    public var reason: String

    public init(file: String, object: String? = nil, offset: Int? = nil, _ reason: String) {
        self.file = file
        self.object = object
        self.offset = offset
        self.reason = reason
    }

    public static func tensor(_ name: String, in file: String, offset: Int? = nil, _ reason: String) -> CheckpointError {
        CheckpointError(file: file, object: "tensor '\(name)'", offset: offset, reason)
    }

    public var description: String {
        var s = file
        if let object { s += ": " + object }
        if let offset { s += " (byte \(offset))" }
        return s + ": " + reason
    }
}

/// Metadata entries in their stored order.
public typealias Metadata = [(key: String, value: String)]
