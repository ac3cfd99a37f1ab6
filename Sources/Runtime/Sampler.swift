#if canImport(Glibc)
import Glibc
#endif
import RecastCore

/// How the next token is chosen from the logits.
///
/// Temperature 0 is greedy (the argmax). Otherwise the logits are divided by the temperature, cut to the
/// `topK` largest (ties with the k-th kept), then to the smallest set of most likely tokens whose
/// probability reaches `topP` (nucleus sampling), in that order, as `transformers` applies its
/// `TemperatureLogitsWarper`, `TopKLogitsWarper` and `TopPLogitsWarper`; the token is drawn from the
/// softmax of what is left with Recast's own seeded generator, so a seed gives the same tokens on every
/// machine.
public struct SamplingOptions: Sendable, Equatable {
    /// 0: greedy. Otherwise > 0.
    public var temperature: Double
    /// Keep only the k most likely tokens (≥ 1); nil: no cut.
    public var topK: Int?
    /// Keep the most likely tokens up to this cumulative probability, in (0, 1]; nil: no cut.
    public var topP: Double?
    public var seed: UInt64

    public init(temperature: Double = 0, topK: Int? = nil, topP: Double? = nil, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    /// What is wrong with the options, or nil.
    public var problem: String? {
        if !temperature.isFinite || temperature < 0 { return "the temperature must be 0 (greedy) or positive (got \(temperature))" }
        if let topK, topK < 1 { return "top-k must be at least 1 (got \(topK))" }
        if let topP, !(topP > 0 && topP <= 1) { return "top-p must be in (0, 1] (got \(topP))" }
        return nil
    }
}

/// Draws tokens from logits as `SamplingOptions` say, from one seeded stream.
public struct Sampler: Sendable {
    public let options: SamplingOptions
    var random: RandomStream

    public init(_ options: SamplingOptions) {
        self.options = options
        random = RandomStream(seed: options.seed, purpose: "generate/sample", layer: 0, head: 0)
    }

    /// The next token for these logits (one row, the vocabulary).
    public mutating func next(_ logits: [Float]) -> Int {
        if options.temperature == 0 { return Sampler.argmax(logits) }
        let candidates = distribution(logits)
        let u = random.uniform()
        var cumulative = 0.0
        for c in candidates {
            cumulative += c.probability
            if u < cumulative { return c.id }
        }
        // Rounding left the sum just under u: the last candidate.
        return candidates.last?.id ?? Sampler.argmax(logits)
    }

    /// The first index of the largest logit (as `torch.argmax` breaks ties); NaN never wins.
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        var value = -Float.infinity
        for (i, x) in logits.enumerated() where x > value {
            best = i
            value = x
        }
        return best
    }

    /// The tokens sampling can pick and their probabilities, after temperature, top-k and top-p; most
    /// likely first when a cut applies (ties: the higher id first), else in id order. Not used for greedy decoding.
    public func distribution(_ logits: [Float]) -> [(id: Int, probability: Double)] {
        let t = options.temperature > 0 ? options.temperature : 1
        let scaled = logits.map { Double($0) / t }
        var order = Array(scaled.indices)
        if options.topK != nil || options.topP != nil {
            // Ties in the order of a stable ascending sort, reversed: where top-p cuts through a tie, the
            // lower ids go first.
            order.sort { scaled[$0] != scaled[$1] ? scaled[$0] > scaled[$1] : $0 > $1 }
        }
        if let k = options.topK, k < order.count {
            // transformers removes the scores below the k-th largest: ties with it stay.
            let kth = scaled[order[k - 1]]
            order = Array(order.prefix { scaled[$0] >= kth })
        }
        if let p = options.topP, p < 1 {
            // transformers sorts ascending, accumulates the softmax and removes the tokens whose cumulative
            // probability is ≤ 1 − p, always keeping the most likely one.
            let probabilities = Sampler.softmax(order.map { scaled[$0] })
            var cumulative = 0.0
            var keep = order.count
            for j in stride(from: order.count - 1, to: 0, by: -1) {
                cumulative += probabilities[j]
                if cumulative <= 1 - p { keep = j } else { break }
            }
            order = Array(order.prefix(keep))
        }
        let probabilities = Sampler.softmax(order.map { scaled[$0] })
        return zip(order, probabilities).map { (id: $0, probability: $1) }
    }

    /// softmax in Double, shifted by the maximum. (The platform's `exp` may differ in the last bit between
    /// C libraries; so do the logits that BLAS computes, and a draw changes only when the uniform number
    /// falls within such a difference of a boundary.)
    static func softmax(_ x: [Double]) -> [Double] {
        guard let m = x.max(), m.isFinite else { return x.map { _ in 1 / Double(max(x.count, 1)) } }
        let e = x.map { exp($0 - m) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }
}
