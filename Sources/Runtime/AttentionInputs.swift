#if canImport(Glibc)
import Glibc
#endif
import ModelGraph

/// cos and sin of every rotated pair at positions 0 ..< `count`, computed once per model from
/// `Rotary.inverseFrequencies` (angles in f64, as the reference); a later position is computed when used.
struct RotaryTable {
    let rotary: Rotary
    let count: Int
    let frequencies: [Double]
    let cosines: [Float]
    let sines: [Float]

    /// Positions tabulated at most: 8,192 positions of 64 pairs are 4 MiB.
    static let maxPositions = 8192

    init(_ rotary: Rotary, positions: Int) {
        self.rotary = rotary
        frequencies = rotary.inverseFrequencies
        count = min(max(positions, 1), Self.maxPositions)
        let half = frequencies.count
        var c = [Float](repeating: 0, count: count * half), s = c
        for p in 0..<count {
            for i in 0..<half {
                let angle = Double(p) * frequencies[i]
                c[p * half + i] = Float(cos(angle))
                s[p * half + i] = Float(sin(angle))
            }
        }
        cosines = c
        sines = s
    }

    /// Rotary embedding (Hugging Face `rotate_half`) of `heads` vectors of size `d` from `p`, at `position`.
    func rotate(_ p: UnsafeMutablePointer<Float>, heads: Int, headDim d: Int, position: Int) {
        let half = frequencies.count
        func apply(_ i: Int, _ c: Float, _ s: Float) {
            for h in 0..<heads {
                let base = p + h * d
                let x1 = base[i], x2 = base[i + half]
                base[i] = x1 * c - x2 * s
                base[i + half] = x2 * c + x1 * s
            }
        }
        if position < count {
            for i in 0..<half { apply(i, cosines[position * half + i], sines[position * half + i]) }
        } else {
            for i in 0..<half {
                let angle = Double(position) * frequencies[i]
                apply(i, Float(cos(angle)), Float(sin(angle)))
            }
        }
    }
}

/// The projections of one layer's attention over packed rows: v always; q and k after rotary unless a folded
/// map without a window makes them unnecessary.
struct ProjectedAttention {
    var queries: Matrix?
    var keys: Matrix?
    var values: Matrix

    /// Calls `body` with a maker of blocks: `block(firstRow, rows, firstPosition)`.
    func withBlocks<R>(_ input: Matrix, _ a: LoadedAttention,
                       _ body: ((Int, Int, Int) -> AttentionBlock) -> R) -> R {
        input.data.withUnsafeBufferPointer { x in
            values.data.withUnsafeBufferPointer { v in
                (queries?.data ?? []).withUnsafeBufferPointer { q in
                    (keys?.data ?? []).withUnsafeBufferPointer { k in
                        body { row, rows, position in
                            AttentionBlock(rows: rows, firstPosition: position,
                                           queries: q.baseAddress.map { UnsafePointer($0 + row * a.qWidth) },
                                           keys: k.baseAddress.map { UnsafePointer($0 + row * a.kvWidth) },
                                           values: v.baseAddress! + row * a.kvWidth, ldq: a.qWidth, ldkv: a.kvWidth,
                                           input: x.baseAddress! + row * input.cols, ldInput: input.cols)
                        }
                    }
                }
            }
        }
    }
}

extension LoadedAttention {
    /// Whether the layer forms q and k: all but a folded map without a window (whose φ reads the input).
    var formsQueriesAndKeys: Bool { !(featureMap?.isFolded ?? false) || hybridWindow != nil }

    /// v, and q and k rotated at their positions: row r of a segment at `firstPosition + r − segment start`.
    func project(_ h: Matrix, segments: [Range<Int>], firstPosition: Int) -> ProjectedAttention {
        guard formsQueriesAndKeys else { return ProjectedAttention(queries: nil, keys: nil, values: value.apply(h)) }
        let qkv = Linear.apply([query, key, value], to: h)
        var q = qkv[0], k = qkv[1]
        let v = qkv[2]
        if let table = rotaryTable {
            q.data.withUnsafeMutableBufferPointer { qp in
                k.data.withUnsafeMutableBufferPointer { kp in
                    for segment in segments {
                        for r in segment {
                            let position = firstPosition + r - segment.lowerBound
                            table.rotate(qp.baseAddress! + r * qWidth, heads: heads, headDim: headDim, position: position)
                            table.rotate(kp.baseAddress! + r * kvWidth, heads: kvHeads, headDim: headDim, position: position)
                        }
                    }
                }
            }
        }
        return ProjectedAttention(queries: q, keys: k, values: v)
    }
}
