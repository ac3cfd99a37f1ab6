import CPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The temporaries this process is writing right now, so that SIGINT, SIGTERM or SIGHUP can remove them
/// before the process ends. `AtomicOutput` registers each of its temporaries for its lifetime; a command
/// line tool calls `Temporaries.removeOnSignals()` once, first thing in `main`.
public enum Temporaries {
    /// Paths to remove (trees), and last the lock file that marks them as being written.
    struct Entry {
        var paths: [String]
        var lock: String
    }

    /// The registry. The mutex also orders publishing against clean-up: a signal's clean-up holds it
    /// until the process has ended, so no output is published (and no thread carries on to a normal
    /// exit) once the clean-up has begun, and a rename in progress completes before it begins.
    final class Registry: @unchecked Sendable {
        private let mutex: UnsafeMutablePointer<pthread_mutex_t>
        private var entries: [Int: Entry] = [:]
        private var next = 0

        init() {
            mutex = .allocate(capacity: 1)
            pthread_mutex_init(mutex, nil)
        }

        func locked<T>(_ body: (inout [Int: Entry], inout Int) throws -> T) rethrows -> T {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return try body(&entries, &next)
        }

        /// Takes the mutex for good and removes everything registered: the process is about to end.
        func removeAllForExit() {
            pthread_mutex_lock(mutex)
            for entry in entries.values { Temporaries.remove(entry) }
            entries = [:]
        }
    }

    static let registry = Registry()

    static func register(_ entry: Entry) -> Int {
        registry.locked { entries, next in
            next += 1
            entries[next] = entry
            return next
        }
    }

    static func unregister(_ token: Int) {
        registry.locked { entries, _ in _ = entries.removeValue(forKey: token) }
    }

    /// Runs `body` (the renames that publish an output) so that no signal's clean-up runs at the same
    /// time; what it returns (paths still to remove) becomes what a clean-up would remove.
    static func publish(_ token: Int, _ body: () throws -> [String]) rethrows {
        try registry.locked { entries, _ in
            let left = try body()
            entries[token]?.paths = left
        }
    }

    /// Whether this process is writing the temporary whose lock file is `lock`.
    static func isOurs(lock: String) -> Bool {
        registry.locked { entries, _ in entries.values.contains { $0.lock == lock } }
    }

    static func remove(_ entry: Entry) {
        for path in entry.paths { removeTreeInsistently(path) }
        unlink(entry.lock)
    }

    /// Removes a tree that another thread may still be adding files to (the writer carries on until
    /// the process ends): lists and removes again until the name is gone.
    static func removeTreeInsistently(_ path: String) {
        for _ in 0..<1000 {
            FileSystem.removeTree(path)
            if !FileSystem.exists(path) { return }
        }
    }

    /// Makes SIGINT, SIGTERM and SIGHUP remove every registered temporary and end the process with status
    /// 128 + the signal's number (130, 143, 129). Call once, first thing in `main`, before any thread is
    /// started: the signals are blocked in the calling thread and in every thread it starts later, and a
    /// dedicated thread does the clean-up (removing a folder tree is not async-signal-safe, so it cannot
    /// run in a signal handler). A normal exit that races with a signal's clean-up waits for it.
    /// Returns false if the handler could not be installed (the signals then keep their default action).
    @discardableResult
    public static func removeOnSignals() -> Bool {
        guard recast_signals_start({ _ in Temporaries.registry.removeAllForExit() }) == 0 else { return false }
        // exit() (a command that finishes as a signal arrives) waits until the clean-up is over; the
        // clean-up then ends the process with the signal's status.
        atexit { Temporaries.registry.locked { _, _ in } }
        return true
    }
}
