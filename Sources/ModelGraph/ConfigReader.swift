import RecastCore

/// Reads Hugging Face `config.json` keys with defaults, recording every missing or ill-typed key
/// as a problem instead of stopping at the first.
public struct ConfigReader {
    public let json: JSON
    public let file: String
    public private(set) var problems: [String] = []

    public init(json: JSON, file: String) {
        self.json = json
        self.file = file
    }

    /// The first of `keys` present and not null.
    func value(_ keys: [String]) -> (String, JSON)? {
        for k in keys { if let v = json[k], !v.isNull { return (k, v) } }
        return nil
    }

    /// Sizes above this are rejected: no real model has them, and products of them must not overflow.
    public static let largest = 1 << 31

    public mutating func int(_ keys: String..., default fallback: Int? = nil) -> Int {
        integer(keys, fallback, positive: false)
    }

    public mutating func positiveInt(_ keys: String..., default fallback: Int? = nil) -> Int {
        integer(keys, fallback, positive: true)
    }

    /// An integer key (integral numbers written as `12.0` too), bounded by `largest`.
    private mutating func integer(_ keys: [String], _ fallback: Int?, positive: Bool) -> Int {
        guard let (k, v) = value(keys) else {
            if let fallback { return fallback }
            problems.append("config key '\(keys[0])' is missing")
            return 0
        }
        let parsed = v.intValue ?? v.doubleValue.flatMap { $0 == $0.rounded() && abs($0) < 1e15 ? Int($0) : nil }
        guard let i = parsed, !positive || i > 0 else {
            problems.append("config key '\(k)' is \(v.serialized()), not \(positive ? "a positive integer" : "an integer")")
            return fallback ?? 0
        }
        guard i.magnitude <= UInt(ConfigReader.largest) else {
            problems.append("config key '\(k)' is \(i), which is implausibly large")
            return fallback ?? 0
        }
        return i
    }

    public mutating func double(_ keys: String..., default fallback: Double) -> Double {
        guard let (k, v) = value(keys) else { return fallback }
        guard let d = v.doubleValue else {
            problems.append("config key '\(k)' is \(v.serialized()), not a number")
            return fallback
        }
        return d
    }

    public mutating func bool(_ keys: String..., default fallback: Bool) -> Bool {
        guard let (k, v) = value(keys) else { return fallback }
        guard let b = v.boolValue else {
            problems.append("config key '\(k)' is \(v.serialized()), not true or false")
            return fallback
        }
        return b
    }

    public mutating func string(_ keys: String..., default fallback: String) -> String {
        guard let (k, v) = value(keys) else { return fallback }
        guard let s = v.stringValue else {
            problems.append("config key '\(k)' is \(v.serialized()), not a string")
            return fallback
        }
        return s
    }

    public mutating func activation(_ keys: String..., default fallback: String) -> Activation {
        var name = fallback
        if let (k, v) = value(keys) {
            guard let s = v.stringValue else {
                problems.append("config key '\(k)' is \(v.serialized()), not an activation name")
                return .gelu
            }
            name = s
        }
        switch name {
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh
        case "gelu": return .gelu
        case "relu": return .relu
        case "silu", "swish": return .silu
        default:
            problems.append("activation '\(name)' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu)")
            return .gelu
        }
    }

    public mutating func add(_ problem: String) { problems.append(problem) }
}
