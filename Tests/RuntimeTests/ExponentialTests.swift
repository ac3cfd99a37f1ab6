import Foundation
import Testing
import LinearAlgebra

/// The vectorised exp of the attention softmax and SiLU, against libm's double-precision `exp`.
@Suite struct ExponentialTests {
    @Test func matchesDoublePrecisionExpOverTheWholeRange() {
        var worst = 0.0
        var x: Float = -87.3
        while x < 88.7 {
            let exact = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(Exponential.value(x)) - exact) / exact)
            x += 0.000_731
        }
        // Float's ulp is 2⁻²³ ≈ 1.19e-7 relative at most: within 2 ulp.
        #expect(worst < 2.4e-7, "largest relative error \(worst)")
    }

    @Test func edgesOfTheRange() {
        #expect(Exponential.value(0) == 1)
        #expect(Exponential.value(-.infinity) == 0)
        #expect(Exponential.value(-100) == 0)
        #expect(Exponential.value(.nan).isNaN)
        #expect(Exponential.value(88.7).isFinite && Exponential.value(88.7) > 3e38)
        #expect(Exponential.value(1000).isFinite)
    }

    @Test func shiftedExponentialsAndTheirSum() {
        let values: [Float] = (0..<37).map { Float($0 % 11) * 0.37 - 2 }
        var p = values
        let largest = p.withUnsafeBufferPointer { Exponential.largest($0.baseAddress!, count: $0.count) }
        #expect(largest == values.max())
        let sum = p.withUnsafeMutableBufferPointer { Exponential.shifted($0.baseAddress!, count: $0.count, shift: largest) }
        var exactSum = 0.0
        for (i, v) in values.enumerated() {
            let exact = Foundation.exp(Double(v - largest))
            exactSum += exact
            #expect(abs(Double(p[i]) - exact) <= 2.4e-7 * exact)
        }
        #expect(abs(Double(sum) - exactSum) <= 1e-6 * exactSum)
    }
}
