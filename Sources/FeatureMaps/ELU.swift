#if canImport(Glibc)
import Glibc
#endif

/// φ(x) = elu(x) + 1 (Katharopoulos et al. 2020), element by element: d features, no parameters.
public struct ELU: FeatureMap {
    public init() {}
    public var name: String { "elu" }
    public var formula: String { "elu(x)+1, no parameters" }
    public func defaultDimension(headDim d: Int) -> Int { d }
    public func dimensionRefusal(_ k: Int, headDim d: Int) -> String? {
        k == d ? nil : "--feature-dim \(k) does not apply to elu: elu(x)+1 keeps the head size, \(d) features"
    }
    public func featureCount(dimension k: Int, headDim d: Int) -> Int { d }
    public var foldRefusal: String? {
        "--fold is refused for elu: elu(x)+1 acts on q and k element by element and has no linear stage to fold into the projections"
    }
    public var qkSharing: QKSharing { .refused("--separate-qk does not apply to elu: elu(x)+1 has no parameters") }
    public func parameters(_ layout: FeatureMapLayout) -> [FeatureMapParameter] { [] }
    public func initialValues(_ p: FeatureMapParameter, layout: FeatureMapLayout, seed: UInt64, layer: Int, head: Int) -> [Double] { [] }

    public func forward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int, into out: UnsafeMutablePointer<Float>) {
        let d = w.inFeatures
        for r in 0..<rows {
            for j in 0..<d {
                let v = x[r * ldx + j]
                out[r * d + j] = v > 0 ? v + 1 : expf(v)
            }
        }
    }

    /// dφ/dx is 1 above zero and exp(x) below.
    public func backward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int,
                         outputGradient g: UnsafePointer<Float>) -> FeatureMapGradient {
        let d = w.inFeatures
        var dx = [Float](repeating: 0, count: rows * d)
        for r in 0..<rows {
            for j in 0..<d {
                let v = x[r * ldx + j]
                dx[r * d + j] = g[r * d + j] * (v > 0 ? 1 : expf(v))
            }
        }
        return FeatureMapGradient(parameters: [:], input: dx)
    }
}

extension FeatureMapKind {
    public static let elu = FeatureMapKind(ELU())
}
