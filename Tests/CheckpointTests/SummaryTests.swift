import Testing
import RecastCore
@testable import Checkpoint

/// Folding repeated layers for `inspect`: what is grouped, how it is named, and correctness at scale.
@Suite struct SummaryTests {
    func tensor(_ name: String, _ shape: [Int] = [2], _ dtype: DType = .f32) -> TensorInfo {
        TensorInfo(name: name, dtype: dtype, shape: shape, byteCount: shape.reduce(1, *) * 4)
    }

    @Test func layerNumbers() {
        func split(_ s: String) -> String? { TensorGroup.layerNumber(s).map { "\($0.0)|\($0.1)|\($0.2)" } }
        #expect(split("h.3.attn.weight") == "h.|3|.attn.weight")
        #expect(split("bert/encoder/layer_._11/attention") == "bert/encoder/layer_._|11|/attention")
        #expect(split("layers/3:0") == "layers/|3|:0")
        #expect(split("12.weight") == "|12|.weight")
        #expect(split("conv2d.weight") == nil, "a digit inside a word is not a layer")
        #expect(split("x.99999999999999999999999.y") == nil, "too large for an Int")
        #expect(split("a.b1.2.c") == "a.b1.|2|.c")
        #expect(split("é.7.ü") == "é.|7|.ü")
        #expect(split("") == nil)
    }

    @Test func groupsAndNames() {
        let ts = [tensor("wte"), tensor("h.0.w"), tensor("h.1.w"), tensor("h.2.w", [3]), tensor("h.3.w"), tensor("h.05.b"),
                  tensor("h.7.w"), tensor("h.0.b", [2], .f16)]
        let g = TensorGroup.group(ts)
        #expect(g.map(\.displayName) == ["wte", "h.{4 layers}.w", "h.2.w", "h.05.b", "h.0.b"])
        #expect(g.map(\.count) == [1, 4, 1, 1, 1])
        #expect(g[1].parameterCount == 8 && g[1].byteCount == 32 && g[1].indices == [0, 1, 3, 7] && g[2].shape == [3])
        let contiguous = TensorGroup.group((0..<12).map { tensor("h.\($0).mlp.c_fc.weight") })
        #expect(contiguous.count == 1 && contiguous[0].displayName == "h.{0-11}.mlp.c_fc.weight" && contiguous[0].count == 12)
    }

    /// 200,000 tensors of 300-byte names (60 MB of names) in 100 groups of 2,000 layers: the result is
    /// exact. (Not timed; `tools/bench_inspect.py` measures the speed.)
    @Test func correctAtScale() {
        let prefix = String(repeating: "long_module_name.", count: 18)
        var ts: [TensorInfo] = []
        ts.reserveCapacity(200_000)
        for k in 0..<200_000 {
            ts.append(tensor("\(prefix)layers.\(k % 2000).part_\(k / 2000).weight", [k / 2000 + 1]))
        }
        let groups = TensorGroup.group(ts)
        #expect(groups.count == 100)
        for (p, g) in groups.enumerated() {
            #expect(g.count == 2000 && g.shape == [p + 1] && g.parameterCount == 2000 * (p + 1))
            #expect(g.displayName == "\(prefix)layers.{0-1999}.part_\(p).weight")
        }
        #expect(groups.reduce(0) { $0 + $1.count } == ts.count)
    }
}
