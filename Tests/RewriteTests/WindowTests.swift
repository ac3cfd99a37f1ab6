import Foundation
import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
@testable import Rewrite

/// `swap --window W`: the sliding-window hybrid's factors, its config key, and what it refuses.
@Suite struct WindowTests {
    let dir = TempDir()

    /// One `{P}.window_factors` `[H]` per swapped layer, after the layer's map tensors, in the model's dtype,
    /// holding g = −2.1972 so that γ = sigmoid(g) = 0.1 (LoLCATs).
    @Test(arguments: ["gpt2", "llama"], FeatureMapKind.allCases)
    func addsWindowFactors(name: String, map: FeatureMapKind) throws {
        let model = try Model(path: fixture(name))
        let g = try model.graph()
        let plain = try Swap.newTensors(graph: g, store: model.store, options: options(map) { $0.seed = 2 })
        let windowed = try Swap.newTensors(graph: g, store: model.store, options: options(map) { $0.seed = 2; $0.window = 64 })
        let factors = windowed.filter { $0.info.name.hasSuffix(".window_factors") }
        #expect(factors.map(\.info.name) == g.blocks.map { $0.attention.modulePath + ".window_factors" })
        // Everything else is the plain swap's, byte for byte.
        let rest = windowed.filter { !$0.info.name.hasSuffix(".window_factors") }
        #expect(rest.map(\.info) == plain.map(\.info))
        #expect(try rest.map(produced) == plain.map(produced))
        let dtype = try #require(model.store.info(named: g.blocks[0].attention.query.weight.name)?.dtype)
        for t in factors {
            #expect(t.info.shape == [g.heads] && t.info.dtype == dtype, "\(t.info)")
            let values = try decode(produced(t), dtype: dtype, count: g.heads)
            for v in values {
                #expect(abs(1 / (1 + exp(-v)) - 0.1) < 2e-3, "γ = sigmoid(\(v))")
                #expect(v == roundedTo(dtype, -2.1972))
            }
        }
    }

    /// The config block records the window only when one is asked for; the written model maps back onto
    /// the graph `Swap.rewrite` returns.
    @Test func configRecordsTheWindow() throws {
        let src = fixture("gpt2")
        let dst = dir.file("windowed")
        _ = try Swap.write(source: src, destination: dst, options: options(.hedgehog) { $0.window = 8; $0.layers = .ranges([1...1]) })
        let config = try readConfig(FileSystem.join(dst, "config.json"))
        #expect(config["linear_attention"]?["window"]?.intValue == 8)
        let block = try #require(config["linear_attention"])
        let written = try Model(path: dst).graph()
        #expect(written.linearAttention?.window == 8)
        #expect(written.blocks[1].attention.featureMap?.windowFactors?.name == "h.1.attn.window_factors")
        #expect(written.blocks[0].attention.featureMap == nil)

        let source = try Model(path: src)
        let plan = try Swap.plan(graph: source.graph(), options: options(.hedgehog) { $0.window = 8; $0.layers = .ranges([1...1]) })
        let rewritten = try Swap.rewrite(graph: source.graph(), store: source.store, plan: plan)
        #expect(rewritten.graph.linearAttention == written.linearAttention)
        #expect(rewritten.graph.blocks.map(\.attention.featureMap) == written.blocks.map(\.attention.featureMap))
        var namedByGraph: Set<String> = []
        for maps in written.blocks.compactMap(\.attention.featureMap) {
            let refs: [TensorRef] = Array(maps.query.values) + Array(maps.key.values) + Array(maps.shared.values)
            namedByGraph.formUnion(refs.map(\.name))
            if let w = maps.windowFactors { namedByGraph.insert(w.name) }
        }
        #expect(Set(rewritten.tensors.map(\.info.name)) == namedByGraph)

        let sinksDst = dir.file("sinks")
        _ = try Swap.write(source: src, destination: sinksDst, options: options(.hedgehog) { $0.window = 8; $0.sinks = 4 })
        let sinksBlock = try #require(readConfig(FileSystem.join(sinksDst, "config.json"))["linear_attention"])
        #expect(sinksBlock["window"]?.intValue == 8 && sinksBlock["sinks"]?.intValue == 4)
        #expect(try Model(path: sinksDst).graph().linearAttention?.sinks == 4)
        #expect(block["sinks"] == nil, "no sinks asked, no key written")

        let plainDst = dir.file("plain")
        _ = try Swap.write(source: src, destination: plainDst, options: options(.hedgehog))
        let plainBlock = try #require(readConfig(FileSystem.join(plainDst, "config.json"))["linear_attention"])
        #expect(plainBlock["window"] == nil)
        #expect(try Model(path: plainDst).graph().linearAttention?.window == nil)
    }

    @Test func refusals() throws {
        for w in [0, -3] {
            #expect {
                try options(.t2r) { $0.window = w }.validate()
            } throws: { "\($0)".contains("--window must be a positive number of positions (got \(w))") }
        }
        #expect {
            try options(.t2r) { $0.window = 64; $0.fold = true }.validate()
        } throws: { "\($0)".contains("--window is refused with --fold") && "\($0)".contains("q and k must still be formed") }
        #expect {
            try options(.hedgehog) { $0.sinks = 4 }.validate()
        } throws: { "\($0)".contains("--sinks needs --window") }
        #expect {
            try options(.hedgehog) { $0.window = 8; $0.sinks = -1 }.validate()
        } throws: { "\($0)".contains("--sinks must be a number of positions") }
        #expect {
            try options(.hedgehog) { $0.window = 8; $0.sinks = 9 }.validate()
        } throws: { "\($0)".contains("--sinks 9 is more than --window 8") }
    }

    /// A config.json with `sinks` but no `window`, or more sinks than the window, names the key and the reason.
    @Test func sinksWithoutAWindowAreRefusedInTheConfig() throws {
        let dst = dir.file("sinks-no-window")
        _ = try Swap.write(source: fixture("gpt2"), destination: dst, options: options(.hedgehog))
        var config = try readConfig(FileSystem.join(dst, "config.json"))
        guard case var .object(block)? = config["linear_attention"] else { Issue.record("no block"); return }
        block.append(("sinks", .int(2)))
        config.set("linear_attention", .object(block))
        try FileSystem.writeAll(FileSystem.join(dst, "config.json"), Array(config.serialized(pretty: true).utf8))
        #expect { try Model(path: dst).graph() } throws: { "\($0)".contains("linear_attention.sinks") && "\($0)".contains("without a 'window'") }
        block.append(("window", .int(1)))
        config.set("linear_attention", .object(block))
        try FileSystem.writeAll(FileSystem.join(dst, "config.json"), Array(config.serialized(pretty: true).utf8))
        #expect { try Model(path: dst).graph() } throws: { "\($0)".contains("linear_attention.sinks") && "\($0)".contains("more than the 'window' of 1") }
    }

    /// The command line: `--window`, the hedgehog feature count (2k) and the `--separate-qk` warning, and `inspect`.
    @Test func commandLine() throws {
        let dst = dir.file("cli")
        let r = try recast(["swap", fixture("gpt2"), dst, "--feature-map", "hedgehog", "--window", "64", "--separate-qk"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("warning: --separate-qk changes nothing for hedgehog: its q and k feature maps are always separate"), "\(r.stderr)")
        // gpt2's heads have d = 8: k = 8, 16 features.
        #expect(r.stdout.contains("to linear attention: hedgehog, feature dim 8 (16 features), window 64"), "\(r.stdout)")
        let inspect = try recast(["inspect", dst])
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("linear:     hedgehog feature map, 16 features (feature dim 8), layers 0,1, softmax window 64"), "\(inspect.stdout)")
        #expect(inspect.stdout.contains("window_factors"))

        let sinks = try recast(["swap", fixture("gpt2"), dir.file("cli-sinks"), "--feature-map", "hedgehog", "--window", "64", "--sinks", "4"])
        #expect(sinks.status == 0 && sinks.stdout.contains("window 64, 4 sinks"), "\(sinks.stdout)\(sinks.stderr)")
        let inspectSinks = try recast(["inspect", dir.file("cli-sinks")])
        #expect(inspectSinks.stdout.contains("softmax window 64, 4 sinks"), "\(inspectSinks.stdout)")

        let plain = try recast(["swap", fixture("gpt2"), dir.file("t2r"), "--feature-map", "t2r", "--separate-qk"])
        #expect(plain.status == 0 && !plain.stderr.contains("warning"), "\(plain.stderr)")

        for (args, message) in [(["--window", "0"], "--window must be a positive number"),
                                (["--window", "64", "--fold"], "--window is refused with --fold"),
                                (["--sinks", "4"], "--sinks needs --window")] {
            let bad = try recast(["swap", fixture("gpt2"), dir.file("bad"), "--feature-map", "t2r"] + args)
            #expect(bad.status != 0 && bad.stderr.contains(message), "\(bad.stderr)")
        }
        let unknown = try recast(["swap", fixture("gpt2"), dir.file("bad"), "--feature-map", "cosformer"])
        #expect(unknown.status != 0 && unknown.stderr.contains("t2r, performer, elu, hedgehog"), "\(unknown.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("bad")))
    }
}

/// Values of a little-endian f32, f16 or bf16 tensor, widened to Double.
func decode(_ bytes: [UInt8], dtype: DType, count: Int) throws -> [Double] {
    var out = [Double](repeating: 0, count: count)
    bytes.withUnsafeBytes { src in
        out.withUnsafeMutableBytes { dst in _ = Cast.convert(src, from: dtype, to: .f64, count: count, into: dst) }
    }
    return out
}

/// `value` as stored in `dtype`, widened back.
func roundedTo(_ dtype: DType, _ value: Double) -> Double {
    switch dtype {
    case .f32: Double(Float(value))
    case .f64: value
    default: Cast.roundTrip([value], through: dtype)[0]
    }
}
