#if canImport(Glibc)
import Glibc
#endif
import FeatureMaps
import RecastCore

/// The transformer families Recast maps.
public enum FamilyName: String, Sendable, Codable {
    case gpt2, bert, llama
}

/// How a projection's weight is stored.
public enum WeightLayout: String, Sendable {
    /// PyTorch `nn.Linear`: `[out, in]`.
    case outIn
    /// Keras/TensorFlow dense kernels and GPT-2's `Conv1D`: `[in, out]`.
    case inOut
}

/// A tensor of the store that a graph node uses, by its name in the store.
public struct TensorRef: Sendable, Hashable {
    public var name: String
    public var shape: [Int]
    /// The store holds this tensor transposed relative to its canonical (PyTorch) layout.
    public var storedTransposed: Bool

    public init(name: String, shape: [Int], storedTransposed: Bool = false) {
        self.name = name
        self.shape = shape
        self.storedTransposed = storedTransposed
    }
}

/// A linear map y = W x + b, possibly a slice of the output features of a fused weight
/// (GPT-2's `c_attn` holds q, k and v side by side).
public struct Projection: Sendable, Hashable {
    public var weight: TensorRef
    public var bias: TensorRef?
    public var layout: WeightLayout
    public var inFeatures: Int
    public var outFeatures: Int
    /// The output features this projection takes from a fused weight; nil for the whole weight.
    public var outputSlice: Range<Int>?

    public init(weight: TensorRef, bias: TensorRef?, layout: WeightLayout, inFeatures: Int, outFeatures: Int, outputSlice: Range<Int>? = nil) {
        self.weight = weight
        self.bias = bias
        self.layout = layout
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.outputSlice = outputSlice
    }
}

public enum NormKind: String, Sendable {
    case layerNorm, rmsNorm
}

public struct Norm: Sendable, Hashable {
    public var kind: NormKind
    public var weight: TensorRef
    public var bias: TensorRef?
    public var eps: Double
}

public enum Activation: String, Sendable {
    /// GPT-2's tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    case geluTanh
    /// The exact erf form (`gelu`).
    case gelu
    case relu
    case silu
}

/// Rotary position embeddings in the Hugging Face `rotate_half` convention.
public struct Rotary: Sendable, Hashable {
    public var theta: Double
    /// Dimensions rotated (the head size unless partial rotary is configured).
    public var dimensions: Int
    /// How the frequencies are rescaled for longer contexts (`rope_parameters` / `rope_scaling`); nil: plain.
    public var scaling: RopeScaling?

    public init(theta: Double, dimensions: Int, scaling: RopeScaling? = nil) {
        self.theta = theta
        self.dimensions = dimensions
        self.scaling = scaling
    }

    /// The angle per position of each rotated pair i < dimensions/2: θ^(−2i/dimensions), rescaled by `scaling`.
    /// The runtime and the reference build their rotation tables from these.
    public var inverseFrequencies: [Double] {
        let plain = (0..<(dimensions / 2)).map { i in 1 / pow(theta, Double(2 * i) / Double(dimensions)) }
        return scaling.map { s in plain.map(s.rescale) } ?? plain
    }
}

/// The rotary scalings Recast implements, as transformers' `modeling_rope_utils` defines them.
public enum RopeScaling: Sendable, Hashable {
    /// Position interpolation: positions divided by `factor`, i.e. every inverse frequency divided by it.
    case linear(factor: Double)
    /// Llama 3.1's frequency-dependent interpolation. With wavelength λ = 2π / f and L = `originalMaxPositions`:
    /// λ < L / `highFrequencyFactor` keeps f; λ > L / `lowFrequencyFactor` gives f / `factor`; in between,
    /// with s = (L / λ − low) / (high − low), (1 − s)·f / factor + s·f.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalMaxPositions: Int)

    /// The `rope_type` names, as `config.json` writes them.
    public static let names = ["linear", "llama3"]

    /// One inverse frequency f, rescaled.
    public func rescale(_ f: Double) -> Double {
        switch self {
        case .linear(let factor):
            return f / factor
        case .llama3(let factor, let low, let high, let original):
            let wavelength = 2 * Double.pi / f
            let context = Double(original)
            if wavelength < context / high { return f }
            if wavelength > context / low { return f / factor }
            let s = (context / wavelength - low) / (high - low)
            return (1 - s) * f / factor + s * f
        }
    }
}

/// The feature-map tensors of a swapped (linear) attention layer, by role.
public struct FeatureMapTensors: Sendable, Hashable {
    /// Shared by q and k (t2r without `--separate-qk`; performer's projection).
    public var shared: [String: TensorRef] = [:]
    public var query: [String: TensorRef] = [:]
    public var key: [String: TensorRef] = [:]
    /// The sliding-window hybrid's g_h per head, `{P}.window_factors` `[H]` (γ_h = sigmoid(g_h)); nil without a window.
    public var windowFactors: TensorRef?
    public init() {}
}

public struct Attention: Sendable, Hashable {
    public var query: Projection
    public var key: Projection
    public var value: Projection
    public var output: Projection
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var rotary: Rotary?
    public var causal: Bool
    /// The factor applied to q·k before the softmax: 1/√d unless the config says otherwise (GPT-2's
    /// `scale_attn_weights`, `scale_attn_by_inverse_layer_idx`). Linear attention does not use it.
    public var scale: Double
    /// Sliding-window softmax attention (Mistral, Qwen2): a query at position i sees the keys at positions j
    /// with i − W < j ≤ i, W keys at most. nil: every earlier key (or every key when bidirectional).
    public var slidingWindow: Int?
    /// The attention module's name in the checkpoint's own naming, e.g. `h.3.attn`.
    public var modulePath: String
    /// Set when this layer was swapped for linear attention.
    public var featureMap: FeatureMapTensors?
}

public struct MLP: Sendable, Hashable {
    public var up: Projection
    public var gate: Projection?
    public var down: Projection
    public var activation: Activation
}

/// Where a block normalises: before each sub-layer (GPT-2, Llama) or after each residual sum (BERT).
public enum NormPlacement: String, Sendable {
    case pre, post
}

public struct Block: Sendable, Hashable {
    public var index: Int
    public var placement: NormPlacement
    /// Pre-norm: before attention. Post-norm: after the attention residual.
    public var attentionNorm: Norm
    public var attention: Attention
    /// Pre-norm: before the MLP. Post-norm: after the MLP residual.
    public var mlpNorm: Norm
    public var mlp: MLP
}

public struct Embeddings: Sendable, Hashable {
    public var token: TensorRef
    public var position: TensorRef?
    /// Position ids start here (RoBERTa counts from `pad_token_id + 1`).
    public var positionOffset: Int
    public var tokenType: TensorRef?
    /// BERT normalises the summed embeddings.
    public var norm: Norm?
}

/// The `linear_attention` block of an exported config.json.
public struct LinearAttentionConfig: Sendable, Hashable {
    public var featureMap: FeatureMapKind
    public var featureDim: Int
    public var layers: [Int]
    public var eps: Double
    public var sharedQK: Bool
    public var folded: Bool
    /// The sliding-window hybrid (LoLCATs): softmax over the last `window` positions, linear attention
    /// beyond; nil for plain linear attention. Absent from config.json when nil.
    public var window: Int?
    /// Attention sinks of the hybrid: the first `sinks` positions stay in every query's softmax terms, as if
    /// always inside its window, and never enter the linear sums (StreamingLLM's sinks; 0 for none). Only with a
    /// window. Absent from config.json when 0.
    public var sinks: Int = 0
}

/// A checkpoint seen as a transformer: which tensor plays which role. Nodes refer to tensors of the
/// store by name; nothing is copied.
public struct ModelGraph: Sendable {
    public var family: FamilyName
    /// The config's `model_type` (`gpt2`, `bert`, `roberta`, `llama`, `mistral`, `qwen2`, …).
    public var modelType: String
    public var hiddenSize: Int
    public var vocabSize: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var maxPositions: Int?
    public var causal: Bool
    public var embeddings: Embeddings
    public var blocks: [Block]
    public var finalNorm: Norm?
    /// The output projection to the vocabulary; nil for encoders without one.
    public var lmHead: Projection?
    public var tiedEmbeddings: Bool
    /// The prefix the checkpoint puts before the family's names (`transformer.`, `bert.`, or empty).
    public var prefix: String
    public var linearAttention: LinearAttentionConfig?
    /// Every store tensor the graph uses, and the ones recognised and deliberately ignored.
    public var ignoredTensors: [String]

    public var layerCount: Int { blocks.count }

    /// Bytes of f32 softmax KV cache for one sequence of `length` tokens over the layers that are not swapped
    /// for linear attention; a sliding-window layer keeps only its last W positions.
    public func kvCacheBytes(length: Int) -> Int {
        let linear = Set(linearAttention?.layers ?? [])
        // Saturating: lengths and sizes come from the command line and config.json.
        return blocks.filter { !linear.contains($0.index) }.reduce(0) { total, b in
            let kept = min(length, b.attention.slidingWindow ?? length)
            return MemoryNeed.sum(total, MemoryNeed.product([2, kept, b.attention.kvHeads, b.attention.headDim, 4]))
        }
    }

    /// Parameters per component: embeddings, attention, mlp, norms, lm_head, feature maps.
    public func parameterCounts() -> [(String, Int)] {
        func n(_ t: TensorRef?) -> Int { t.map { elementCount(of: $0.shape) ?? 0 } ?? 0 }
        func proj(_ p: Projection) -> Int {
            let w = p.outputSlice != nil ? p.inFeatures * p.outFeatures : n(p.weight)
            let b = p.bias.map { p.outputSlice != nil ? p.outFeatures : n($0) } ?? 0
            return w + b
        }
        func norm(_ x: Norm?) -> Int { x.map { n($0.weight) + n($0.bias) } ?? 0 }
        var emb = n(embeddings.token) + n(embeddings.position) + n(embeddings.tokenType)
        var attn = 0, mlp = 0, norms = norm(finalNorm), maps = 0
        emb += norm(embeddings.norm)
        for b in blocks {
            attn += proj(b.attention.query) + proj(b.attention.key) + proj(b.attention.value) + proj(b.attention.output)
            mlp += proj(b.mlp.up) + proj(b.mlp.down) + (b.mlp.gate.map(proj) ?? 0)
            norms += norm(b.attentionNorm) + norm(b.mlpNorm)
            if let f = b.attention.featureMap {
                maps += (Array(f.shared.values) + Array(f.query.values) + Array(f.key.values)).reduce(0) { $0 + n($1) }
            }
        }
        var out = [("embeddings", emb), ("attention", attn), ("mlp", mlp), ("norms", norms)]
        if let head = lmHead, !tiedEmbeddings { out.append(("lm_head", proj(head))) }
        if maps > 0 { out.append(("feature_maps", maps)) }
        return out
    }

    /// The `architecture` object of `recast inspect --json`.
    public var json: JSON {
        var pairs: [(String, JSON)] = [
            ("family", .string(family.rawValue)),
            ("model_type", .string(modelType)),
            ("layers", .int(layerCount)),
            ("heads", .int(heads)),
            ("kv_heads", .int(kvHeads)),
            ("head_dim", .int(headDim)),
            ("hidden_size", .int(hiddenSize)),
            ("intermediate_size", .int(intermediateSize)),
            ("vocab_size", .int(vocabSize)),
            ("causal", .bool(causal)),
            ("max_positions", maxPositions.map { .int($0) } ?? .null),
            ("tied_embeddings", .bool(tiedEmbeddings)),
            ("lm_head", .bool(lmHead != nil)),
            ("rotary_theta", blocks.first?.attention.rotary.map { .double($0.theta) } ?? .null),
            ("parameters", .object(parameterCounts().map { ($0.0, .int($0.1)) })),
        ]
        if let la = linearAttention {
            pairs.append(("linear_attention", .object([
                ("feature_map", .string(la.featureMap.name)), ("feature_dim", .int(la.featureDim)),
                ("layers", .array(la.layers.map { .int($0) })), ("window", la.window.map { .int($0) } ?? .null),
            ] + (la.sinks > 0 ? [("sinks", JSON.int(la.sinks))] : []))))
        } else {
            pairs.append(("linear_attention", .null))
        }
        return .object(pairs)
    }
}
