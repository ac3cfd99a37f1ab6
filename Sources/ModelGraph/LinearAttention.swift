/// The graph's `LinearAttentionConfig` holds a `FeatureMapKind`: users of the graph see the maps too.
@_exported import FeatureMaps
import RecastCore

extension LinearAttentionConfig {
    /// A config of `featureMap` over `layers` (the memberwise initialiser is internal to ModelGraph).
    public init(_ featureMap: FeatureMapKind, featureDim: Int, layers: [Int], eps: Double = defaultEps, sharedQK: Bool,
                folded: Bool = false, window: Int? = nil, sinks: Int = 0) {
        self.featureMap = featureMap
        self.featureDim = featureDim
        self.layers = layers
        self.eps = eps
        self.sharedQK = sharedQK
        self.folded = folded
        self.window = window
        self.sinks = sinks
    }

    public static let defaultEps = 1e-6
    /// The accepted ε of the denominator φ(q)ᵀz + ε: positive, or an all-zero φ(q) row divides by zero, and finite.
    public static let epsRange = NumberRange.positive

    /// Reads the `linear_attention` block of a config; nil when there is none. Problems go to `reader`.
    static func read(_ config: JSON, reader: inout ConfigReader, layers: Int) -> LinearAttentionConfig? {
        guard let block = config["linear_attention"], !block.isNull else { return nil }
        guard block.objectValue != nil else {
            reader.add("config key 'linear_attention' is not an object")
            return nil
        }
        var r = ConfigReader(json: block, file: reader.file)
        let name = r.string("feature_map", default: "")
        let map = FeatureMapKind(rawValue: name)
        if map == nil {
            r.add("config key 'linear_attention.feature_map' is '\(name)', not one of \(FeatureMapKind.knownNames)")
        }
        let dim = r.positiveInt("feature_dim")
        var list: [Int] = []
        if let arr = block["layers"]?.arrayValue {
            for v in arr {
                if let i = v.intValue, i >= 0, i < layers { list.append(i) } else {
                    r.add("config key 'linear_attention.layers' holds \(v.serialized()), not a layer index below \(layers)")
                }
            }
        } else {
            r.add("config key 'linear_attention.layers' is missing or not a list")
        }
        let eps = r.double("eps", default: defaultEps, range: epsRange)
        let shared = r.bool("shared_qk", default: true)
        let folded = r.bool("folded", default: false)
        var window: Int?
        if let w = block["window"], !w.isNull { window = r.positiveInt("window") }
        var sinks = 0
        if let s = block["sinks"], !s.isNull {
            sinks = r.positiveInt("sinks")
            if window == nil { r.add("config key 'sinks' is \(sinks) without a 'window': sinks belong to the window hybrid") }
            if let w = window, sinks > w { r.add("config key 'sinks' is \(sinks), more than the 'window' of \(w)") }
        }
        // Provenance only (the graph does not use it), but a damaged record is reported like any other key.
        if let c = block["calibration"], !c.isNull { _ = CalibrationRecord.read(c, reader: &r) }
        for p in r.problems { reader.add(p.replacingOccurrences("config key '", "config key 'linear_attention.")) }
        guard let map else { return nil }
        return LinearAttentionConfig(featureMap: map, featureDim: dim, layers: list, eps: eps, sharedQK: shared, folded: folded, window: window,
                                     sinks: sinks)
    }
}

extension ModelGraph {
    /// The tensors linear attention adds to layer `i` under `la`, in the order a swap writes them: each of
    /// the map's parameters (`{P}.feature_map.weight`, …, with P the attention module), then the window
    /// factors `{P}.window_factors` `[H]` (parameter nil) when `la` has a window.
    public func linearAttentionTensors(_ la: LinearAttentionConfig, layer i: Int) -> [(parameter: FeatureMapParameter?, ref: TensorRef)] {
        let a = blocks[i].attention
        var out: [(parameter: FeatureMapParameter?, ref: TensorRef)] = la.featureMap.map.parameters(la.layout(a, hiddenSize: hiddenSize)).map {
            ($0, TensorRef(name: a.modulePath + "." + $0.suffix, shape: $0.shape))
        }
        if la.window != nil { out.append((nil, TensorRef(name: a.modulePath + ".window_factors", shape: [a.heads]))) }
        return out
    }

    /// This graph with `la`'s layers swapped for linear attention, their tensors named as
    /// `linearAttentionTensors` names them.
    public func swapped(to la: LinearAttentionConfig) -> ModelGraph {
        var g = self
        g.linearAttention = la
        for i in la.layers where i < blocks.count {
            g.blocks[i].attention.featureMap = featureMapTensors(la, layer: i) { $0 }
        }
        return g
    }

    /// This graph with every swapped layer back to softmax attention: the model the swap started from, whose
    /// tensors a swapped model still holds bit for bit (the teacher of `recast calibrate`).
    public var softmaxOnly: ModelGraph {
        var g = self
        g.linearAttention = nil
        for i in g.blocks.indices { g.blocks[i].attention.featureMap = nil }
        return g
    }

    /// Layer i's `FeatureMapTensors`, each of `linearAttentionTensors` passed through `resolve`.
    func featureMapTensors(_ la: LinearAttentionConfig, layer i: Int, resolve: (TensorRef) -> TensorRef) -> FeatureMapTensors {
        var maps = FeatureMapTensors()
        for (parameter, ref) in linearAttentionTensors(la, layer: i) {
            if let parameter { maps[parameter.role][parameter.key] = resolve(ref) } else { maps.windowFactors = resolve(ref) }
        }
        return maps
    }

    /// Finds each swapped layer's feature-map tensors and window factors in the store and checks their shapes.
    mutating func attachFeatureMaps(_ la: LinearAttentionConfig, builder: inout GraphBuilder) {
        for i in la.layers where i < blocks.count {
            let a = blocks[i].attention
            if la.layout(a, hiddenSize: hiddenSize).folded && a.rotary != nil {
                builder.add("layer \(i): a folded feature map cannot follow rotary embeddings")
            }
            blocks[i].attention.featureMap = featureMapTensors(la, layer: i) { builder.required("/" + $0.name, shape: $0.shape) }
        }
    }
}

extension LinearAttentionConfig {
    /// The sizes the feature map of this config sees in a layer with attention `a`. `folded` applies only to
    /// a map that can fold (t2r); the others read q and k whatever the config says.
    public func layout(_ a: Attention, hiddenSize: Int) -> FeatureMapLayout {
        FeatureMapLayout(heads: a.heads, headDim: a.headDim, dimension: featureDim, sharedQK: sharedQK,
                         folded: folded && featureMap.map.canFold, hiddenSize: hiddenSize)
    }
}

extension FeatureMapTensors {
    /// The tensors of one role, by parameter key.
    public subscript(role: FeatureMapRole) -> [String: TensorRef] {
        get {
            switch role {
            case .shared: shared
            case .query: query
            case .key: key
            }
        }
        set {
            switch role {
            case .shared: shared = newValue
            case .query: query = newValue
            case .key: key = newValue
            }
        }
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        components(separatedBy: target).joined(separator: replacement)
    }
}

/// The `calibration` record of a `linear_attention` block, written by `recast calibrate`: what the feature maps
/// were trained on and how, and per layer the attention error on the held-out windows before and after.
public struct CalibrationRecord: Sendable, Equatable {
    public struct Layer: Sendable, Equatable {
        public var layer: Int
        public var errorBefore: Double
        public var errorAfter: Double
        public init(layer: Int, errorBefore: Double, errorAfter: Double) {
            self.layer = layer
            self.errorBefore = errorBefore
            self.errorAfter = errorAfter
        }
    }

    /// Lowercase hex SHA-256 of the data file's bytes.
    public var dataSHA256: String
    /// How the data file was read: `text-file`, `lines` or `tokens-file`.
    public var dataFormat: String
    /// Tokens used (training and validation windows).
    public var tokens: Int
    public var windows: Int
    public var maxLength: Int
    /// The share of windows held out for validation.
    public var validation: Double
    public var steps: Int
    public var batch: Int
    public var learningRate: Double
    public var seed: UInt64
    public var layers: [Layer]
    /// The calibrations of the model before this one, oldest first, each without an `earlier` of its own: a
    /// calibration of some layers keeps what is known of the others' (their data and errors).
    public var earlier: [CalibrationRecord] = []

    public init(dataSHA256: String, dataFormat: String, tokens: Int, windows: Int, maxLength: Int, validation: Double, steps: Int,
                batch: Int, learningRate: Double, seed: UInt64, layers: [Layer], earlier: [CalibrationRecord] = []) {
        self.dataSHA256 = dataSHA256
        self.dataFormat = dataFormat
        self.tokens = tokens
        self.windows = windows
        self.maxLength = maxLength
        self.validation = validation
        self.steps = steps
        self.batch = batch
        self.learningRate = learningRate
        self.seed = seed
        self.layers = layers
        self.earlier = earlier
    }

    /// This record after `previous` (the record the calibrated model already had): its history, then it.
    public func following(_ previous: CalibrationRecord?) -> CalibrationRecord {
        guard let previous else { return self }
        var r = self, last = previous
        last.earlier = []
        r.earlier = previous.earlier + [last]
        return r
    }

    /// The record as config.json holds it (`schemas/linear-attention.schema.json`, `calibration`).
    public var json: JSON {
        .object([
            ("data", .object([("sha256", .string(dataSHA256)), ("format", .string(dataFormat)), ("tokens", .int(tokens)),
                              ("windows", .int(windows)), ("max_length", .int(maxLength))])),
            ("validation", .double(validation)),
            ("steps", .int(steps)),
            ("batch", .int(batch)),
            ("learning_rate", .double(learningRate)),
            ("seed", .number(String(seed))),
            ("layers", .array(layers.map {
                .object([("layer", .int($0.layer)), ("error_before", .double($0.errorBefore)), ("error_after", .double($0.errorAfter))])
            })),
        ] + (earlier.isEmpty ? [] : [("earlier", .array(earlier.map(\.json)))]))
    }

    /// Reads a record; problems (named `config key 'calibration.…'`) go to `reader`, and nil is returned with any.
    public static func read(_ json: JSON, reader: inout ConfigReader) -> CalibrationRecord? {
        let before = reader.problems.count
        guard json.objectValue != nil, let data = json["data"], data.objectValue != nil else {
            reader.add("config key 'calibration' is not an object with a 'data' object")
            return nil
        }
        var d = ConfigReader(json: data, file: reader.file)
        let sha = d.string("sha256", default: "")
        if sha.count != 64 || !sha.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
            d.add("config key 'sha256' is '\(sha)', not 64 lowercase hex digits")
        }
        let format = d.string("format", default: "")
        if !["text-file", "lines", "tokens-file"].contains(format) {
            d.add("config key 'format' is '\(format)', not text-file, lines or tokens-file")
        }
        let tokens = d.positiveInt("tokens"), windows = d.positiveInt("windows"), maxLength = d.positiveInt("max_length")
        for p in d.problems { reader.add(p.replacingOccurrences("config key '", "config key 'calibration.data.")) }
        var r = ConfigReader(json: json, file: reader.file)
        let validation = r.double("validation", default: -1, range: NumberRange(lower: 0, lowerInclusive: false, upper: 1, upperInclusive: false))
        if json["validation"] == nil { r.add("config key 'validation' is missing") }
        let steps = r.positiveInt("steps"), batch = r.positiveInt("batch")
        let rate = r.double("learning_rate", default: -1, range: .positive)
        if json["learning_rate"] == nil { r.add("config key 'learning_rate' is missing") }
        let seed = json["seed"].flatMap { $0.isNull ? nil : UInt64($0.serialized()) }
        if seed == nil { r.add("config key 'seed' is \(json["seed"]?.serialized() ?? "missing"), not an integer from 0 to 2^64 - 1") }
        var layers: [Layer] = []
        let nonNegative = NumberRange(lower: 0, lowerInclusive: true, upper: .infinity, upperInclusive: false)
        if let items = json["layers"]?.arrayValue {
            for (i, item) in items.enumerated() {
                var l = ConfigReader(json: item, file: reader.file)
                let layer = l.int("layer")
                let a = l.double("error_before", default: -1, range: nonNegative), b = l.double("error_after", default: -1, range: nonNegative)
                if item["error_before"] == nil || item["error_after"] == nil { l.add("config key 'error_before' or 'error_after' is missing") }
                for p in l.problems { r.add(p.replacingOccurrences("config key '", "config key 'layers[\(i)].")) }
                layers.append(Layer(layer: layer, errorBefore: a, errorAfter: b))
            }
        } else {
            r.add("config key 'layers' is missing or not a list")
        }
        var earlier: [CalibrationRecord] = []
        if let history = json["earlier"] {
            if let items = history.arrayValue {
                for (i, item) in items.enumerated() {
                    if item["earlier"] != nil { r.add("config key 'earlier[\(i)].earlier' is there: the history is one list, oldest first") }
                    var e = ConfigReader(json: item, file: reader.file)
                    if let record = read(item, reader: &e) { earlier.append(record) }
                    for p in e.problems { r.add(p.replacingOccurrences("config key 'calibration", "config key 'earlier[\(i)]")) }
                }
            } else {
                r.add("config key 'earlier' is not a list")
            }
        }
        for p in r.problems { reader.add(p.replacingOccurrences("config key '", "config key 'calibration.")) }
        guard reader.problems.count == before else { return nil }
        return CalibrationRecord(dataSHA256: sha, dataFormat: format, tokens: tokens, windows: windows, maxLength: maxLength,
                                 validation: validation, steps: steps, batch: batch, learningRate: rate, seed: seed ?? 0, layers: layers,
                                 earlier: earlier)
    }
}
