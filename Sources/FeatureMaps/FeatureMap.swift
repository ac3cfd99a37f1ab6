import RecastCore

/// A feature map φ of linear attention: what the swap adds to a layer, how it starts, and how it is computed.
///
/// Each map is one file in this folder conforming to this protocol, plus its line in `knownFeatureMaps`.
/// Kernels work on f32 rows of one head; parameters are stored per role (`FeatureMapRole`) as `[H, …]`.
public protocol FeatureMap: Sendable {
    /// The name in config.json's `linear_attention.feature_map` and on the command line.
    var name: String { get }
    /// The formula, for help text: `relu(W x + b)`.
    var formula: String { get }
    /// The dimension (`feature_dim`) when none is asked for; `d` is the head size.
    func defaultDimension(headDim d: Int) -> Int
    /// Why `--feature-dim k` does not apply to this map on heads of size `d`; nil when it does.
    func dimensionRefusal(_ k: Int, headDim d: Int) -> String?
    /// Features φ produces per head for dimension `k` on heads of size `d` (the size of S and z).
    func featureCount(dimension k: Int, headDim d: Int) -> Int
    /// Why the map cannot be folded into the q and k projections (the whole `--fold` message); nil when it can.
    var foldRefusal: String? { get }
    /// What `--separate-qk` means for this map.
    var qkSharing: QKSharing { get }
    /// The parameter tensors of one swapped layer, in the order they are written.
    func parameters(_ layout: FeatureMapLayout) -> [FeatureMapParameter]
    /// The initial values of one head of an (unfolded) parameter, in Double, drawn from the random streams
    /// of (seed, purpose, layer, head) only, so each tensor is a pure function of them.
    func initialValues(_ parameter: FeatureMapParameter, layout: FeatureMapLayout, seed: UInt64, layer: Int, head: Int) -> [Double]
    /// φ of `rows` vectors of head `head`: `x` is `[rows, w.inFeatures]` with row stride `ldx`; writes
    /// `out` `[rows, featureCount]`, densely. BLAS must be loaded.
    func forward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int, into out: UnsafeMutablePointer<Float>)
    /// Given dL/dφ (`outputGradient`, `[rows, featureCount]` dense) at the same `x`, dL/d(trained parameters
    /// of head `head`) and dL/dx. BLAS must be loaded.
    func backward(_ w: FeatureMapWeights, head: Int, x: UnsafePointer<Float>, rows: Int, ldx: Int,
                  outputGradient: UnsafePointer<Float>) -> FeatureMapGradient
}

extension FeatureMap {
    public func dimensionRefusal(_ k: Int, headDim d: Int) -> String? { nil }
    public var foldRefusal: String? { "--fold is refused for \(name): it has no linear first stage to fold into the projections" }
    public var canFold: Bool { foldRefusal == nil }
}

/// How a map treats `--separate-qk`.
public enum QKSharing: Sendable, Equatable {
    /// One map shared by q and k unless `--separate-qk` asks for two.
    case optional
    /// q and k always have their own maps: the flag changes nothing (and a warning says so).
    case alwaysSeparate
    /// The flag is refused, with this message.
    case refused(String)
}

/// Which inputs a parameter serves: both q and k, or one of them.
public enum FeatureMapRole: String, Sendable, Hashable, CaseIterable {
    case shared
    case query = "q"
    case key = "k"

    /// The module under the attention path that holds the role's tensors: `feature_map`, `feature_map_q`, `feature_map_k`.
    public var module: String { self == .shared ? "feature_map" : "feature_map_\(rawValue)" }
}

/// The sizes of one swapped layer, as far as its map is concerned.
public struct FeatureMapLayout: Sendable, Hashable {
    public var heads: Int
    /// d, the head size.
    public var headDim: Int
    /// `feature_dim`: k (t2r, hedgehog), m (performer), d (elu).
    public var dimension: Int
    /// One map for q and k (where the map offers the choice).
    public var sharedQK: Bool
    /// Multiplied into the projections: the maps then read the attention input, of `hiddenSize` features.
    public var folded: Bool
    public var hiddenSize: Int

    public init(heads: Int, headDim: Int, dimension: Int, sharedQK: Bool, folded: Bool = false, hiddenSize: Int) {
        self.heads = heads
        self.headDim = headDim
        self.dimension = dimension
        self.sharedQK = sharedQK
        self.folded = folded
        self.hiddenSize = hiddenSize
    }

    /// The width of the vectors the map reads: d, or the hidden size when folded.
    public var inFeatures: Int { folded ? hiddenSize : headDim }
}

/// One parameter tensor of a map in one layer.
public struct FeatureMapParameter: Sendable, Hashable {
    public var role: FeatureMapRole
    /// Its key within the role: `weight`, `bias`, `projection`.
    public var key: String
    /// `[H, …]`: one slice per head.
    public var shape: [Int]
    /// False for fixed parameters (performer's random projection): no gradient is given for them.
    public var trained: Bool

    public init(role: FeatureMapRole, key: String, shape: [Int], trained: Bool = true) {
        self.role = role
        self.key = key
        self.shape = shape
        self.trained = trained
    }

    /// The tensor name after the attention module path, e.g. `feature_map_q.bias`.
    public var suffix: String { "\(role.module).\(key)" }
    /// Values per head.
    public var headCount: Int { shape.dropFirst().reduce(1, *) }
}

/// One role's parameters of a map in one layer, as f32 in the stored `[H, …]` layout.
public struct FeatureMapWeights: Sendable {
    /// Values by parameter key (`weight`, `bias`, `projection`).
    public var values: [String: [Float]]
    /// `feature_dim` (k or m).
    public var dimension: Int
    /// The width of x: d, or the hidden size for a folded map.
    public var inFeatures: Int

    public init(values: [String: [Float]] = [:], dimension: Int, inFeatures: Int) {
        self.values = values
        self.dimension = dimension
        self.inFeatures = inFeatures
    }

    /// The values of `key`; the map's loader guarantees each key its `parameters` list names.
    func tensor(_ key: String) -> [Float] {
        guard let v = values[key] else { preconditionFailure("feature-map parameter '\(key)' was not loaded") }
        return v
    }
}

/// What `FeatureMap.backward` returns.
public struct FeatureMapGradient: Sendable {
    /// dL/d(one head's slice) of each trained parameter, by key, in the slice's layout (`[k, in]`, `[k]`).
    public var parameters: [String: [Float]]
    /// dL/dx, `[rows, inFeatures]` dense.
    public var input: [Float]

    public init(parameters: [String: [Float]], input: [Float]) {
        self.parameters = parameters
        self.input = input
    }
}
