import LinearAlgebra

/// Hedgehog (Zhang et al. 2024): with u = W x + b, φ(x) = [softmax(u), softmax(−u)], so 2k features per
/// head for dimension k (default d). q and k always have their own maps, started at the identity.
public struct Hedgehog: FeatureMap {
    public init() {}
    public var name: String { "hedgehog" }
    public var formula: String { "[softmax(W x + b), softmax(-(W x + b))], 2k features (default k = d)" }
    public func defaultDimension(headDim d: Int) -> Int { d }
    public func featureCount(dimension k: Int, headDim d: Int) -> Int { 2 * k }
    public var foldRefusal: String? {
        "--fold is refused for hedgehog: the folded format (config 'folded', the runtime and tools/reference.py) is defined for t2r only, and Hedgehog's maps start as the identity to be trained on q and k themselves; with k = d a folded map would be as large as the projection it replaces"
    }
    public var qkSharing: QKSharing { .alwaysSeparate }

    public func parameters(_ layout: FeatureMapLayout) -> [FeatureMapParameter] {
        Affine.parameters(layout, roles: [.query, .key])
    }

    /// Weight `[k, d]` the rectangular identity (1 where row == column), bias zero; the same for every head.
    public func initialValues(_ p: FeatureMapParameter, layout: FeatureMapLayout, seed: UInt64, layer: Int, head: Int) -> [Double] {
        let k = layout.dimension, d = layout.headDim
        guard p.key == "weight" else { return [Double](repeating: 0, count: k) }
        var w = [Double](repeating: 0, count: k * d)
        for i in 0..<min(k, d) { w[i * d + i] = 1 }
        return w
    }

    public func forward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int, into out: UnsafeMutablePointer<Float>) {
        let k = w.dimension
        Affine.forward(w, head: head, x: x, rows: rows, ldx: ldx, into: out, ldo: 2 * k)
        for r in 0..<rows {
            let row = out + r * 2 * k
            for j in 0..<k { row[k + j] = -row[j] }
            Softmax.fastRow(row, k)
            Softmax.fastRow(row + k, k)
        }
    }

    /// Through each softmax s: dv = s ⊙ (g − ⟨g, s⟩); du = dv₊ − dv₋.
    public func backward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int,
                         outputGradient g: UnsafePointer<Float>) -> FeatureMapGradient {
        var phi = [Float](repeating: 0, count: rows * 2 * w.dimension)
        phi.withUnsafeMutableBufferPointer { forward(w, head: head, x: x, rows: rows, ldx: ldx, into: $0.baseAddress!) }
        return phi.withUnsafeBufferPointer { backward(w, head: head, x: x, rows: rows, ldx: ldx, features: $0.baseAddress!, outputGradient: g) }
    }

    /// As `backward(_:head:x:rows:ldx:outputGradient:)`, given φ(x) `[rows, 2k]` as `forward` computed it (a trainer
    /// that has just run the forward pass saves computing it again).
    public func backward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int,
                         features phi: UnsafePointer<Float>, outputGradient g: UnsafePointer<Float>) -> FeatureMapGradient {
        let k = w.dimension
        var du = [Float](repeating: 0, count: rows * k)
        for r in 0..<rows {
            let base = r * 2 * k
            var dotPlus: Float = 0, dotMinus: Float = 0
            for j in 0..<k {
                dotPlus += g[base + j] * phi[base + j]
                dotMinus += g[base + k + j] * phi[base + k + j]
            }
            for j in 0..<k {
                du[r * k + j] = phi[base + j] * (g[base + j] - dotPlus) - phi[base + k + j] * (g[base + k + j] - dotMinus)
            }
        }
        return Affine.backward(w, head: head, x: x, rows: rows, ldx: ldx, affineGradient: du)
    }
}

extension FeatureMapKind {
    public static let hedgehog = FeatureMapKind(Hedgehog())
}
