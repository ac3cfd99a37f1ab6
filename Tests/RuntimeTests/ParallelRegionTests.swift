import Foundation
import Testing
import LinearAlgebra

/// `BLAS.inParallel`, the one place Recast runs arithmetic on several threads, over the helper team of
/// `recast_team_run` (helpers that spin between close regions, then sleep): every task runs exactly once,
/// its writes are visible when the region returns, regions follow each other closely or after the helpers
/// have gone to sleep, callers on several threads at once each get their regions done (one on the team, the
/// others alone), and a region inside a region runs on its caller's thread.
@Suite struct ParallelRegionTests {
    init() throws { try BLAS.load(file: "ParallelRegionTests") }

    /// Runs one region of `tasks` tasks; each task writes its own slot. True when every slot was written once.
    static func region(tasks: Int, round: Int) -> Bool {
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: tasks)
        defer { slots.deallocate() }
        slots.initialize(repeating: 0, count: tasks)
        let shared = SharedPointer(slots)
        BLAS.inParallel(tasks: tasks) { t in shared.pointer[t] += round * 1000 + t + 1 }
        return (0..<tasks).allSatisfy { slots[$0] == round * 1000 + $0 + 1 }
    }

    @Test func everyTaskRunsOnceInRegionsBackToBack() {
        var failures = 0
        for round in 0..<20_000 where !Self.region(tasks: 1 + round % 9, round: round) { failures += 1 }
        #expect(failures == 0)
    }

    @Test func regionsAfterTheHelpersSleep() {
        var failures = 0
        for round in 0..<6 {
            // Longer than the helpers spin (some 20,000 pauses): they are asleep when the next region comes.
            Thread.sleep(forTimeInterval: 0.03)
            for step in 0..<3 where !Self.region(tasks: 2 + step, round: round) { failures += 1 }
        }
        #expect(failures == 0)
    }

    @Test func callersOnSeveralThreadsAtOnce() {
        let callers = 6, rounds = 2_000
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: callers)
        defer { failures.deallocate() }
        failures.initialize(repeating: 0, count: callers)
        let shared = SharedPointer(failures)
        DispatchQueue.concurrentPerform(iterations: callers) { c in
            for round in 0..<rounds where !Self.region(tasks: 2 + (round + c) % 5, round: round) { shared.pointer[c] += 1 }
        }
        #expect((0..<callers).map { failures[$0] } == Array(repeating: 0, count: callers))
    }

    @Test func aRegionInsideARegionRunsOnItsCallersThread() {
        let tasks = 4, inner = 5
        let threads = UnsafeMutablePointer<pthread_t?>.allocate(capacity: tasks * (inner + 1))
        defer { threads.deallocate() }
        threads.initialize(repeating: nil, count: tasks * (inner + 1))
        let shared = SharedPointer(threads)
        BLAS.inParallel(tasks: tasks) { t in
            shared.pointer[t * (inner + 1)] = pthread_self()
            BLAS.inParallel(tasks: inner) { i in shared.pointer[t * (inner + 1) + 1 + i] = pthread_self() }
        }
        for t in 0..<tasks {
            let outer = threads[t * (inner + 1)]
            #expect(outer != nil)
            for i in 0..<inner { #expect(threads[t * (inner + 1) + 1 + i].map { pthread_equal($0, outer!) != 0 } == true) }
        }
    }
}
