import Dispatch

/// Work started on another thread now and collected later: lets a job use the second core for an
/// independent pass (hashing the source while the output is written).
public final class Background<Value>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Value, Error>?

    public init(_ work: @escaping @Sendable () throws -> Value) {
        DispatchQueue.global(qos: .userInitiated).async {
            let r = Result { try work() }
            self.result = r
            self.done.signal()
        }
    }

    /// Waits for the work and returns its value or rethrows its error.
    public func value() throws -> Value {
        done.wait()
        done.signal()
        return try result!.get()
    }
}
