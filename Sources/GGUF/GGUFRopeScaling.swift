import Foundation
import RecastCore

/// The rotary scalings Recast translates between a Hugging Face `config.json` (`rope_scaling` /
/// `rope_parameters`) and a GGUF file, as llama.cpp's converter stores them:
/// - `linear`: the metadata keys `{arch}.rope.scaling.type = "linear"` and `{arch}.rope.scaling.factor`
///   (`TextModel.set_gguf_parameters`);
/// - `llama3`: no metadata of llama.cpp's own, but a `rope_freqs.weight` tensor of per-pair frequency
///   divisors (`LlamaModel.generate_extra_tensors`), from which the parameters are recovered when reading.
public enum GGUFRopeScaling: Sendable, Equatable {
    /// The tensor of llama3 frequency divisors in llama.cpp's `llama` architecture.
    public static let frequencyTensor = "rope_freqs.weight"

    case linear(factor: Double)
    case llama3(Llama3RopeParameters)

    /// The `rope_scaling` object config.json holds for it, with transformers' key names.
    public var json: JSON {
        switch self {
        case let .linear(factor):
            return .object([("rope_type", .string("linear")), ("factor", .number("\(factor)"))])
        case let .llama3(p):
            return .object([("rope_type", .string("llama3")), ("factor", .number("\(p.factor)")),
                            ("low_freq_factor", .number("\(p.lowFrequencyFactor)")),
                            ("high_freq_factor", .number("\(p.highFrequencyFactor)")),
                            ("original_max_position_embeddings", .int(p.originalContextLength))])
        }
    }
}

/// Llama 3.1's frequency-dependent rotary interpolation (transformers' `rope_type: llama3`): with
/// wavelength λ = 2π / f of an inverse frequency f, and L = `originalContextLength`, λ < L / high keeps f,
/// λ > L / low divides it by `factor`, and in between s = (L / λ − low) / (high − low) blends the two.
public struct Llama3RopeParameters: Sendable, Equatable {
    public var factor: Double
    public var lowFrequencyFactor: Double
    public var highFrequencyFactor: Double
    public var originalContextLength: Int

    public init(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContextLength: Int) {
        self.factor = factor
        self.lowFrequencyFactor = lowFrequencyFactor
        self.highFrequencyFactor = highFrequencyFactor
        self.originalContextLength = originalContextLength
    }

    /// The values llama.cpp's converter writes as `rope_freqs.weight` for `dimensions` rotary dimensions and
    /// base `theta`: one divisor per rotary pair (1 for kept frequencies, `factor` for divided ones,
    /// 1 / ((1 − s) / factor + s) in between), computed in f32 as its PyTorch code does.
    public func llamaCppFactors(theta: Double, dimensions: Int) -> [Float] {
        let base = Float(theta), d = Float(dimensions), twoPi = Float(2 * Double.pi)
        let low = Float(lowFrequencyFactor), factor = Float(factor)
        let context = Float(originalContextLength)
        let lowWavelength = Double(originalContextLength) / lowFrequencyFactor
        let highWavelength = Double(originalContextLength) / highFrequencyFactor
        let band = Float(highFrequencyFactor - lowFrequencyFactor)
        return (0..<dimensions / 2).map { pair in
            let frequency = 1 / powf(base, Float(2 * pair) / d)
            let wavelength = twoPi / frequency
            if Double(wavelength) < highWavelength { return 1 }
            if Double(wavelength) > lowWavelength { return factor }
            let smooth = (context / wavelength - low) / band
            return 1 / ((1 - smooth) / factor + smooth)
        }
    }

    /// Whether these parameters give `factors` (llama.cpp's f32 values) within f32 rounding: every element
    /// within a relative 1e-5 (a few units in the last place, amplified where the blend is steep).
    public func reproduces(_ factors: [Float], theta: Double, dimensions: Int) -> Bool {
        let mine = llamaCppFactors(theta: theta, dimensions: dimensions)
        return mine.count == factors.count
            && zip(mine, factors).allSatisfy { abs(Double($0) - Double($1)) <= 1e-5 * max(1, abs(Double($1))) }
    }

    /// The published parameters of Llama 3.1 and 3.2 besides their factor (8 and 32): low 1, high 4, 8192.
    static let publishedBand = (low: 1.0, high: 4.0)
    static let publishedFactors = [8.0, 32.0]
    /// Round low / high pairs tried after the published one and the fitted one.
    static let roundBands = [(1.0, 8.0), (2.0, 8.0), (2.0, 4.0), (1.0, 2.0), (1.0, 16.0), (0.5, 2.0), (0.5, 4.0)]
    /// llama.cpp's converter assumes this original context when `original_max_position_embeddings` is not
    /// a top-level config key, and writes no metadata for it.
    public static let defaultOriginalContextLength = 8192

    /// Parameters that reproduce llama.cpp's `rope_freqs` values `factors` (see `reproduces`), for rotary
    /// `dimensions` and base `theta`; nil when none of the candidates does.
    ///
    /// The values depend on the context only through L / low and L / high, so L is taken from
    /// `originalContextLength` (the file's `rope.scaling.original_context_length`) or llama.cpp's default
    /// 8192, and low and high follow: first the published low 1 and high 4, then the pair fitted by least
    /// squares to the blended elements (two or more are needed), then a few round pairs, then (with one
    /// blended element or none, where many pairs give the same values) a pair placed between the kept and
    /// the divided wavelengths; fitted and placed pairs rounded to 3 and then 6 significant digits. The
    /// factor is the largest element (the divisor of the lowest frequencies), or else the published 8 or 32.
    public static func recovered(from factors: [Float], theta: Double, dimensions: Int, originalContextLength: Int?) -> Llama3RopeParameters? {
        guard dimensions >= 2, factors.count == dimensions / 2, factors.allSatisfy({ $0.isFinite && $0 >= 1 }),
              let largest = factors.max() else { return nil }
        let context = originalContextLength ?? defaultOriginalContextLength
        var candidateFactors: [Double] = largest > 1 ? [Double(largest)] : []
        candidateFactors += publishedFactors.filter { !candidateFactors.contains($0) }
        for factor in candidateFactors {
            var bands = [publishedBand]
            let fitted = fittedBand(factors, factor: factor, theta: theta, dimensions: dimensions, context: context)
            if let fitted { bands += [3, 6].map { (roundedSignificant(fitted.low, $0), roundedSignificant(fitted.high, $0)) } }
            bands += roundBands.map { (low: $0.0, high: $0.1) }
            if fitted == nil, let placed = placedBand(factors, factor: factor, theta: theta, dimensions: dimensions, context: context) {
                bands += [3, 6].map { (roundedSignificant(placed.low, $0), roundedSignificant(placed.high, $0)) }
            }
            for band in bands where band.high > band.low && band.low > 0 {
                let p = Llama3RopeParameters(factor: factor, lowFrequencyFactor: band.low, highFrequencyFactor: band.high,
                                             originalContextLength: context)
                if p.reproduces(factors, theta: theta, dimensions: dimensions) { return p }
            }
        }
        return nil
    }

    /// low and high from the blended elements v (strictly between 1 and `factor`): their blend
    /// s = (1/v − 1/factor) / (1 − 1/factor) is linear in 1/λ, s = (L/λ − low) / (high − low).
    static func fittedBand(_ factors: [Float], factor: Double, theta: Double, dimensions: Int, context: Int) -> (low: Double, high: Double)? {
        guard factor > 1 else { return nil }
        let points = wavelengths(factors, factor: factor, theta: theta, dimensions: dimensions).blended
            .map { (x: Double(context) / $0.wavelength, s: $0.s) }
        guard points.count >= 2 else { return nil }
        let n = Double(points.count)
        let mx = points.map(\.x).reduce(0, +) / n, ms = points.map(\.s).reduce(0, +) / n
        let sxx = points.map { ($0.x - mx) * ($0.x - mx) }.reduce(0, +)
        let sxs = points.map { ($0.x - mx) * ($0.s - ms) }.reduce(0, +)
        guard sxx > 0, sxs != 0 else { return nil }
        // s = x / (high − low) − low / (high − low)
        let slope = sxs / sxx, intercept = ms - slope * mx
        let width = 1 / slope, low = -intercept * width
        guard width.isFinite, low.isFinite, width > 0 else { return nil }
        return (low, low + width)
    }

    /// The wavelength of each element's frequency, split into kept (1), blended (with its blend s) and
    /// divided (`factor`) elements.
    static func wavelengths(_ factors: [Float], factor: Double, theta: Double, dimensions: Int)
        -> (kept: [Double], blended: [(wavelength: Double, s: Double)], divided: [Double]) {
        var kept: [Double] = [], blended: [(wavelength: Double, s: Double)] = [], divided: [Double] = []
        for (i, v) in factors.enumerated() {
            let value = Double(v), wavelength = 2 * Double.pi * pow(theta, Double(2 * i) / Double(dimensions))
            if value <= 1 + 1e-6 { kept.append(wavelength) }
            else if value >= factor * (1 - 1e-6) { divided.append(wavelength) }
            else { blended.append((wavelength, (1 / value - 1 / factor) / (1 - 1 / factor))) }
        }
        return (kept, blended, divided)
    }

    /// low and high when the values do not determine them (one blended element or none): the band of
    /// wavelengths [L / high, L / low] placed through the one blended element with high = 4 low as published,
    /// or strictly between the longest kept and the shortest divided wavelength.
    static func placedBand(_ factors: [Float], factor: Double, theta: Double, dimensions: Int, context: Int) -> (low: Double, high: Double)? {
        guard factor > 1 else { return nil }
        let w = wavelengths(factors, factor: factor, theta: theta, dimensions: dimensions)
        let shortEdge: Double, longEdge: Double  // L / high, L / low
        switch w.blended.count {
        case 1:
            // s = (L/λ − low) / (high − low) with L / high = e and L / low = 4e: e = λ (3s + 1) / 4.
            let b = w.blended[0]
            shortEdge = b.wavelength * (3 * b.s + 1) / 4
            longEdge = 4 * shortEdge
        case 0:
            let longestKept = w.kept.max() ?? 0, shortestDivided = w.divided.min() ?? .infinity
            guard longestKept < shortestDivided else { return nil }
            if shortestDivided == .infinity {
                (shortEdge, longEdge) = (2 * longestKept, 8 * longestKept)
            } else if longestKept == 0 {
                (shortEdge, longEdge) = (shortestDivided / 8, shortestDivided / 2)
            } else {
                let step = pow(shortestDivided / longestKept, 1.0 / 3)
                (shortEdge, longEdge) = (longestKept * step, longestKept * step * step)
            }
        default:
            return nil
        }
        guard shortEdge > 0, longEdge > shortEdge, longEdge.isFinite else { return nil }
        return (Double(context) / longEdge, Double(context) / shortEdge)
    }

    static func roundedSignificant(_ x: Double, _ digits: Int) -> Double {
        guard x != 0, x.isFinite else { return x }
        let scale = pow(10, Double(digits - 1) - floor(log10(abs(x))))
        return (x * scale).rounded() / scale
    }
}
