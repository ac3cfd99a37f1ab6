import RecastCore

/// The row order llama.cpp's converter gives the q and k projections of rotary models.
///
/// Hugging Face applies rotary embeddings with `rotate_half`: in each head, output `i` pairs with output
/// `i + d/2`. llama.cpp pairs neighbours (`2i` with `2i + 1`), so `convert_hf_to_gguf.py` reorders the
/// rows of each head (`LlamaModel.permute`: `reshape(heads, 2, d/2, …).swapaxes(1, 2)`): llama.cpp's row
/// `2i + j` of a head is Hugging Face's row `j·d/2 + i`. The bias of a projection is permuted the same way.
/// A grouped-query k projection is permuted by the key/value head count.
///
/// Only whole rows move, so a row of quantised blocks moves as it is: the permutation works on raw bytes of
/// any type.
public enum RotaryPermutation {
    /// Reorders the `rows` rows of `src` (each `src.count / rows` bytes) into `dst`: from Hugging Face's
    /// layout to llama.cpp's (`toLlamaCpp: true`) or back. `src` and `dst` must be the same size and must not
    /// overlap. Throws, naming `tensor` in `file`, when the rows do not split into `heads` heads of an even
    /// number of rows, or the buffers do not hold `rows` whole rows.
    public static func permuteRows(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
                                   rows: Int, heads: Int, toLlamaCpp: Bool, tensor: String, file: String) throws {
        let half = try halfHeadRows(rows: rows, heads: heads, tensor: tensor, file: file)
        guard src.count == dst.count, src.count % rows == 0 else {
            throw CheckpointError.tensor(tensor, in: file,
                "has \(src.count) bytes for \(rows) rows (into \(dst.count) bytes): not the same whole number of bytes per row")
        }
        guard let from = src.baseAddress, let to = dst.baseAddress else { return }
        let rowBytes = src.count / rows
        let headRows = 2 * half
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    // Hugging Face row j·half + i of the head is llama.cpp row 2i + j.
                    let hf = h * headRows + j * half + i
                    let cpp = h * headRows + 2 * i + j
                    let (s, d) = toLlamaCpp ? (hf, cpp) : (cpp, hf)
                    (to + d * rowBytes).copyMemory(from: from + s * rowBytes, byteCount: rowBytes)
                }
            }
        }
    }

    /// `values` as a `[rows, values.count / rows]` matrix (or a bias, with one value per row), permuted.
    public static func permuteRows(_ values: [Float], rows: Int, heads: Int, toLlamaCpp: Bool, tensor: String, file: String) throws -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        try values.withUnsafeBytes { src in
            try out.withUnsafeMutableBytes { dst in
                try permuteRows(src, into: dst, rows: rows, heads: heads, toLlamaCpp: toLlamaCpp, tensor: tensor, file: file)
            }
        }
        return out
    }

    /// Half the rows of one head; throws unless `rows` splits into `heads` heads of an even number of rows.
    static func halfHeadRows(rows: Int, heads: Int, tensor: String, file: String) throws -> Int {
        guard heads > 0, rows > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw CheckpointError.tensor(tensor, in: file,
                "has \(rows) rows, which do not split into \(heads) heads of an even number of rows: the rotary permutation needs that (check the head counts)")
        }
        return rows / heads / 2
    }
}
