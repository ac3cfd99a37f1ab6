#if canImport(Glibc)
import Glibc
#endif
import RecastCore

/// How an encoder's token states become one sentence embedding, as sentence-transformers does it:
/// mean over the tokens (the default of `all-MiniLM-L6-v2`), the first token (`[CLS]`), or the maximum,
/// then L2 normalisation when a `Normalize` module is listed.
public struct Pooling: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        case mean, cls, max
    }

    public var mode: Mode
    public var normalize: Bool

    public init(mode: Mode, normalize: Bool) {
        self.mode = mode
        self.normalize = normalize
    }

    /// Pools one sequence's hidden states [T, H] (padding rows excluded) to [H].
    public func apply(_ hidden: Matrix) -> [Float] {
        let t = hidden.rows, h = hidden.cols
        var out = [Double](repeating: 0, count: h)
        switch mode {
        case .cls:
            if t > 0 { for j in 0..<h { out[j] = Double(hidden.data[j]) } }
        case .mean:
            for r in 0..<t { for j in 0..<h { out[j] += Double(hidden.data[r * h + j]) } }
            if t > 0 { for j in 0..<h { out[j] /= Double(t) } }
        case .max:
            if t > 0 {
                for j in 0..<h { out[j] = Double(hidden.data[j]) }
                for r in 1..<max(t, 1) { for j in 0..<h { out[j] = Swift.max(out[j], Double(hidden.data[r * h + j])) } }
            }
        }
        if normalize {
            // sentence-transformers: x / max(‖x‖, 1e-12).
            let norm = out.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let scale = 1 / Swift.max(norm, 1e-12)
            for j in 0..<h { out[j] *= scale }
        }
        return out.map(Float.init)
    }
}
