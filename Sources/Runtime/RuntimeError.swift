/// A forward pass that cannot run as asked: the model, the tokens or the mode are at fault.
public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
