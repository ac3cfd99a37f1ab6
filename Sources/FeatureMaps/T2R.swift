import RecastCore

/// T2R (Kasai et al. 2021): φ(x) = relu(W x + b), k features per head (default 32). One map is shared by
/// q and k unless `--separate-qk`; the only map that folds into the q and k projections.
public struct T2R: FeatureMap {
    public init() {}
    public var name: String { "t2r" }
    public var formula: String { "relu(W x + b), k features (default 32)" }
    public static let defaultFeatures = 32
    public func defaultDimension(headDim d: Int) -> Int { T2R.defaultFeatures }
    public func featureCount(dimension k: Int, headDim d: Int) -> Int { k }
    public var foldRefusal: String? { nil }
    public var qkSharing: QKSharing { .optional }

    /// Shared `feature_map.{weight,bias}`, or per q and k; folded maps are always per q and k and read the
    /// attention input.
    public func parameters(_ layout: FeatureMapLayout) -> [FeatureMapParameter] {
        Affine.parameters(layout, roles: layout.sharedQK && !layout.folded ? [.shared] : [.query, .key])
    }

    /// The purpose names that key the random streams; changing one changes every seeded output.
    static func purpose(_ role: FeatureMapRole, _ key: String) -> String { "t2r/\(role.rawValue)/\(key)" }

    /// PyTorch's default for `nn.Linear(d, k)`: weight `[k, d]` and bias `[k]` uniform in ±1/√d
    /// (`kaiming_uniform_(a=√5)` reduces to this bound). Weight and bias come from separate streams.
    public func initialValues(_ p: FeatureMapParameter, layout: FeatureMapLayout, seed: UInt64, layer: Int, head: Int) -> [Double] {
        let bound = 1 / Double(layout.headDim).squareRoot()
        var stream = RandomStream(seed: seed, purpose: T2R.purpose(p.role, p.key), layer: layer, head: head)
        let count = p.key == "weight" ? layout.dimension * layout.headDim : layout.dimension
        return (0..<count).map { _ in stream.uniform(-bound, bound) }
    }

    public func forward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int, into out: UnsafeMutablePointer<Float>) {
        let k = w.dimension
        Affine.forward(w, head: head, x: x, rows: rows, ldx: ldx, into: out, ldo: k)
        for i in 0..<(rows * k) { out[i] = max(out[i], 0) }
    }

    /// relu passes the gradient where W x + b > 0.
    public func backward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int,
                         outputGradient g: UnsafePointer<Float>) -> FeatureMapGradient {
        let k = w.dimension
        var u = [Float](repeating: 0, count: rows * k)
        u.withUnsafeMutableBufferPointer { Affine.forward(w, head: head, x: x, rows: rows, ldx: ldx, into: $0.baseAddress!, ldo: k) }
        let du = (0..<(rows * k)).map { u[$0] > 0 ? g[$0] : 0 }
        return Affine.backward(w, head: head, x: x, rows: rows, ldx: ldx, affineGradient: du)
    }

    /// The folded map of one head: Ŵ = W_φ W_{q,h} `[k, in]` and b̂ = W_φ b_{q,h} + b_φ `[k]`, where
    /// `projection` is the head's `d` rows of the q (or k) projection, `[d, in]`, and `projectionBias` its
    /// `d` biases (nil when the projection has none).
    public static func fold(mapWeight w: [Double], mapBias b: [Double], features k: Int, headDim d: Int,
                            projection p: [Double], projectionBias pb: [Double]?, inFeatures n: Int) -> (weight: [Double], bias: [Double]) {
        var weight = [Double](repeating: 0, count: k * n)
        var bias = b
        for r in 0..<k {
            for t in 0..<d {
                let coefficient = w[r * d + t]
                for c in 0..<n { weight[r * n + c] += coefficient * p[t * n + c] }
            }
            if let pb {
                var s = 0.0
                for t in 0..<d { s += w[r * d + t] * pb[t] }
                bias[r] = s + b[r]
            }
        }
        return (weight, bias)
    }
}

extension FeatureMapKind {
    public static let t2r = FeatureMapKind(T2R())
}
