#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Work started on another thread now and collected later: lets a job use the second core for an
/// independent pass (hashing the source while the output is written).
///
/// A plain POSIX thread, not Dispatch: libdispatch needs descriptors and threads of its own, and when
/// they run out (`ulimit -n 8`) it stops the process with SIGILL. When the thread cannot be created
/// (threads or memory exhausted), the work runs inline in `value()` instead: slower, same result.
public final class Background<Value>: @unchecked Sendable {
    private final class Job: @unchecked Sendable {
        let work: @Sendable () throws -> Value
        var result: Result<Value, Error>?
        init(_ work: @escaping @Sendable () throws -> Value) { self.work = work }
        func run() { result = Result { try work() } }
    }

    private let job: Job
    private var thread: pthread_t?
    private var collected = false

    public init(_ work: @escaping @Sendable () throws -> Value) {
        job = Job(work)
        thread = startThread(ThreadBody(job.run))
    }

    /// Whether the work runs on its own thread (false when no thread could be started).
    public var isConcurrent: Bool { thread != nil }

    /// Waits for the work and returns its value or rethrows its error.
    public func value() throws -> Value {
        if !collected {
            if let thread { pthread_join(thread, nil) } else { job.run() }
            collected = true
        }
        return try job.result!.get()
    }

    /// Work never collected (the caller failed first) is not waited for: the thread is detached and
    /// keeps what it uses alive until it ends, so an error is reported at once.
    deinit {
        if !collected, let thread { pthread_detach(thread) }
    }
}

/// A thread's work, passed through `pthread_create`'s context pointer.
private final class ThreadBody: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

private func threadEntry(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let raw else { return nil }
    Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue().run()
    return nil
}

/// Starts `body` on a new thread; nil when the thread cannot be created.
private func startThread(_ body: ThreadBody) -> pthread_t? {
    var thread = pthread_t()
    let context = Unmanaged.passRetained(body).toOpaque()
    guard pthread_create(&thread, nil, threadEntry, context) == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        return nil
    }
    return thread
}
