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

    /// A number key that must be finite and inside `range` (the message states the accepted range).
    public mutating func double(_ keys: String..., default fallback: Double, range: NumberRange = .finite) -> Double {
        guard let (k, v) = value(keys) else { return fallback }
        guard let d = v.doubleValue else {
            problems.append("config key '\(k)' is \(v.serialized()), not a number")
            return fallback
        }
        guard range.contains(d) else {
            problems.append("config key '\(k)' is \(v.serialized()), outside the accepted range: \(range.description)")
            return fallback
        }
        return d
    }

    /// Checks a number key the computation does not use but which must be sane when present
    /// (Hugging Face's own validation rejects it otherwise), e.g. `initializer_range`.
    public mutating func check(_ key: String, range: NumberRange) {
        _ = double(key, default: 0, range: range)
    }

    /// An integer key that must lie in `range` when present.
    public mutating func int(_ key: String, default fallback: Int, in range: ClosedRange<Int>) -> Int {
        let i = integer([key], fallback, positive: false)
        guard range.contains(i) else {
            problems.append("config key '\(key)' is \(i), outside the accepted range \(range.lowerBound)...\(range.upperBound)")
            return fallback
        }
        return i
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

    /// The activations Recast implements, by their Hugging Face `ACT2FN` names.
    public static let activations: [(String, Activation)] = [
        ("gelu", .gelu), ("gelu_new", .geluTanh), ("gelu_pytorch_tanh", .geluTanh), ("gelu_fast", .geluTanh),
        ("relu", .relu), ("silu", .silu), ("swish", .silu),
    ]

    public mutating func activation(_ keys: String..., default fallback: String) -> Activation {
        var name = fallback, key = keys[0]
        if let (k, v) = value(keys) {
            guard let s = v.stringValue else {
                problems.append("config key '\(k)' is \(v.serialized()), not an activation name")
                return .gelu
            }
            name = s
            key = k
        }
        if let found = ConfigReader.activations.first(where: { $0.0 == name }) { return found.1 }
        let known = ConfigReader.activations.map(\.0).joined(separator: ", ")
        problems.append("config key '\(key)' is '\(name)', an activation Recast does not implement (accepted: \(known))")
        return .gelu
    }

    /// Refuses a key that changes the computation in a way Recast does not implement, unless it holds one of
    /// the values Recast computes the same way (`harmless`; absent and null always pass).
    public mutating func refuse(_ key: String, unless harmless: [JSON] = [], _ why: String) {
        guard let v = json[key], !v.isNull else { return }
        if harmless.contains(where: { $0 == v }) { return }
        problems.append("config key '\(key)' is \(v.serialized()): \(why)")
    }

    public mutating func add(_ problem: String) { problems.append(problem) }
}

/// The accepted values of a number in `config.json`, with the words that describe them in messages.
public struct NumberRange: Sendable {
    public var lower: Double
    public var lowerInclusive: Bool
    public var upper: Double
    public var upperInclusive: Bool

    public init(lower: Double, lowerInclusive: Bool, upper: Double, upperInclusive: Bool) {
        self.lower = lower
        self.lowerInclusive = lowerInclusive
        self.upper = upper
        self.upperInclusive = upperInclusive
    }

    public func contains(_ x: Double) -> Bool {
        guard x.isFinite else { return false }
        let aboveLower = lowerInclusive ? x >= lower : x > lower
        let belowUpper = upperInclusive ? x <= upper : x < upper
        return aboveLower && belowUpper
    }

    public var description: String {
        var parts: [String] = []
        if lower.isFinite { parts.append("\(lowerInclusive ? ">=" : ">") \(format(lower))") }
        if upper.isFinite { parts.append("\(upperInclusive ? "<=" : "<") \(format(upper))") }
        return parts.isEmpty ? "a finite number" : "a finite number " + parts.joined(separator: " and ")
    }

    private func format(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)" }

    /// Any finite number.
    public static let finite = NumberRange(lower: -.infinity, lowerInclusive: false, upper: .infinity, upperInclusive: false)
    /// Strictly positive and finite (rotary bases, the linear-attention ε).
    public static let positive = NumberRange(lower: 0, lowerInclusive: false, upper: .infinity, upperInclusive: false)
    /// A normalisation ε: positive (ε = 0 divides by zero on a constant row, ε < 0 takes the root of a
    /// negative number) and below 1 (a larger ε swamps the variance of unit-scale activations; no model uses one).
    public static let normEpsilon = NumberRange(lower: 0, lowerInclusive: false, upper: 1, upperInclusive: false)
    /// [0, 1], as transformers' own validation has it for `initializer_range`.
    public static let unit = NumberRange(lower: 0, lowerInclusive: true, upper: 1, upperInclusive: true)
}
