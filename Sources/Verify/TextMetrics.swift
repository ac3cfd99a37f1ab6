#if canImport(Glibc)
import Glibc
#endif
import Runtime

/// Running next-token figures of two language models over the same predictions, sequence by sequence,
/// so that no sequence's logits are kept once scored.
struct NextTokenScores {
    /// Predictions compared.
    var predictions = 0
    /// Predictions that had a target (text), and the figures against the targets.
    var scored = 0
    var negativeLogLikelihood = (original: 0.0, converted: 0.0)
    var correct = (original: 0, converted: 0)
    var agreeing = 0
    var divergence = 0.0

    /// Compares rows `positions` of the two models' logits [T, vocab]. With `targets` (the sequence's
    /// tokens), row p predicts targets[p + 1]; every position given must have one.
    mutating func add(_ original: Matrix, _ converted: Matrix, positions: Range<Int>, targets: [Int]?) {
        for r in positions {
            let p = Verifier.logSoftmax(original.row(r)), q = Verifier.logSoftmax(converted.row(r))
            let top = (original: Verifier.argmax(p), converted: Verifier.argmax(q))
            if top.original == top.converted { agreeing += 1 }
            var kl = 0.0
            for j in 0..<p.count { kl += exp(p[j]) * (p[j] - q[j]) }
            // Rounding can leave a tiny negative sum where the distributions agree; KL is never below 0.
            divergence += max(kl, 0)
            predictions += 1
            if let targets, r + 1 < targets.count {
                let t = targets[r + 1]
                negativeLogLikelihood.original -= p[t]
                negativeLogLikelihood.converted -= q[t]
                if top.original == t { correct.original += 1 }
                if top.converted == t { correct.converted += 1 }
                scored += 1
            }
        }
    }

    var agreement: Double { Double(agreeing) / Double(max(predictions, 1)) }
    var meanKL: Double { divergence / Double(max(predictions, 1)) }

    func textFigures(sequences: Int) -> TextFigures {
        let n = Double(max(scored, 1))
        return TextFigures(
            tokens: scored, sequences: sequences,
            perplexity: (exp(negativeLogLikelihood.original / n), exp(negativeLogLikelihood.converted / n)),
            nextTokenAccuracy: (Double(correct.original) / n, Double(correct.converted) / n),
            top1Agreement: agreement, meanKL: meanKL)
    }
}

/// Sentence embeddings of the two models compared: per-sentence cosine, and whether each sentence's
/// nearest neighbour among the others is the same.
enum EmbeddingComparison {
    static func figures(_ original: [[Float]], _ converted: [[Float]], pooling: Pooling, source: String) -> EmbeddingFigures {
        let a = original.map(unit), b = converted.map(unit)
        // Rounding can take the dot product of unit vectors a hair past ±1.
        let cosines = zip(a, b).map { min(max(dot($0, $1), -1), 1) }
        var neighbourAgreement: Double?
        if a.count > 1 {
            let na = nearestNeighbours(a), nb = nearestNeighbours(b)
            neighbourAgreement = Double(zip(na, nb).filter { $0 == $1 }.count) / Double(a.count)
        }
        return EmbeddingFigures(
            sequences: original.count, cosineMean: cosines.reduce(0, +) / Double(max(cosines.count, 1)),
            cosineMin: cosines.min() ?? 0, neighbourAgreement: neighbourAgreement, pooling: pooling, poolingSource: source)
    }

    /// The vector scaled to length 1, in double precision (a zero vector stays zero: its cosine with anything is 0).
    static func unit(_ v: [Float]) -> [Double] {
        let x = v.map(Double.init)
        let norm = dot(x, x).squareRoot()
        return norm > 0 ? x.map { $0 / norm } : x
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for (x, y) in zip(a, b) { s += x * y }
        return s
    }

    /// For each vector, the index of the most similar other one (the first on a tie).
    static func nearestNeighbours(_ units: [[Double]]) -> [Int] {
        units.indices.map { i in
            var best = -1, bestCosine = -Double.infinity
            for j in units.indices where j != i {
                let c = dot(units[i], units[j])
                if c > bestCosine { best = j; bestCosine = c }
            }
            return best
        }
    }
}

extension Verifier {
    /// log softmax of one row of logits, in double precision.
    static func logSoftmax<C: Collection>(_ x: C) -> [Double] where C.Element == Float {
        let m = Double(x.max() ?? 0)
        let lse = m + log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
        return x.map { Double($0) - lse }
    }

    /// The index of the largest value (the first on a tie, as NumPy's argmax).
    static func argmax(_ x: [Double]) -> Int { x.indices.max { x[$0] < x[$1] } ?? 0 }
}
