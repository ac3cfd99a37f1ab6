import Testing
import TestSupport

/// `tools/reference.py selftest`: the NumPy reference's own checks (parallel == recurrent in float64 on every
/// fixture, the sliding-window hybrid's limits and both forms, rotary scaling against transformers), run with the
/// suite so that a change to the reference cannot break them unnoticed.
@Suite struct ReferenceSelftestTests {
    @Test func referenceSelftestPasses() throws {
        let r = try python([repoRoot + "/tools/reference.py", "selftest"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains(" 0 failed"), "\(r.stdout)")
        for check in ["window 4 recurrent==parallel", "window >= length == softmax", "hybrid gamma->0 is linear attention",
                      "llama3 rope scaling == transformers'", "linear rope scaling == transformers'"] {
            #expect(r.stdout.contains(check), "missing check: \(check)")
        }
        #expect(!r.stdout.contains("FAIL"), "\(r.stdout)")
    }
}
