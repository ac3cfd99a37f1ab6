import Testing
import TestSupport
import RecastCore
import ModelGraph
@testable import Rewrite

@Suite struct SchemaTests {
    static let sha = String(repeating: "ab", count: 32)

    static func plan(_ map: FeatureMapKind, shared: Bool, folded: Bool = false) -> SwapPlan {
        SwapPlan(featureMap: map, featureDim: 16, layers: [0, 2], eps: 1e-6, sharedQK: shared, folded: folded,
                 seed: UInt64.max, separateMaps: !shared)
    }

    static var valid: JSON {
        Swap.linearAttentionBlock(plan: plan(.t2r, shared: true), sourceFiles: [SourceFile(name: "model.safetensors", sha256: sha)])
    }

    @Test func everyKindOfBlockIsValid() throws {
        let files = [SourceFile(name: "model.safetensors.index.json", sha256: Self.sha), SourceFile(name: "config.json", sha256: Self.sha)]
        let blocks = [
            Self.plan(.t2r, shared: true), Self.plan(.t2r, shared: false), Self.plan(.t2r, shared: false, folded: true),
            Self.plan(.performer, shared: true), Self.plan(.elu, shared: true), Self.plan(.hedgehog, shared: false),
        ].map { Swap.linearAttentionBlock(plan: $0, sourceFiles: files) }
        #expect(try schemaErrors(blocks) == Array(repeating: [], count: blocks.count))
    }

    /// `window` is optional: a positive integer, not with folded maps (the window's softmax needs q and k).
    @Test func windowIsAnOptionalPositiveInteger() throws {
        func windowed(_ w: JSON, folded: Bool = false) -> JSON {
            var b = Swap.linearAttentionBlock(plan: Self.plan(.t2r, shared: !folded, folded: folded),
                                              sourceFiles: [SourceFile(name: "model.safetensors", sha256: Self.sha)])
            b.set("window", w)
            return b
        }
        let good = [windowed(.int(64)), windowed(.int(1))]
        #expect(try schemaErrors(good) == [[], []])
        let bad: [(String, JSON)] = [
            ("zero window", windowed(.int(0))), ("negative window", windowed(.int(-3))),
            ("fractional window", windowed(.number("2.5"))), ("string window", windowed(.string("64"))),
            ("null window", windowed(.null)), ("folded window", windowed(.int(64), folded: true)),
        ]
        let errors = try schemaErrors(bad.map(\.1))
        for ((what, _), e) in zip(bad, errors) { #expect(!e.isEmpty, "accepted: \(what)") }
    }

    /// `sinks` is optional: a positive integer, and only beside a window.
    @Test func sinksAreAnOptionalPositiveIntegerBesideAWindow() throws {
        func block(window: JSON?, sinks: JSON) -> JSON {
            var b = Swap.linearAttentionBlock(plan: Self.plan(.hedgehog, shared: false),
                                              sourceFiles: [SourceFile(name: "model.safetensors", sha256: Self.sha)])
            if let window { b.set("window", window) }
            b.set("sinks", sinks)
            return b
        }
        #expect(try schemaErrors([block(window: .int(64), sinks: .int(4)), block(window: .int(8), sinks: .int(1))]) == [[], []])
        let bad: [(String, JSON)] = [
            ("zero sinks", block(window: .int(64), sinks: .int(0))), ("string sinks", block(window: .int(64), sinks: .string("4"))),
            ("sinks without a window", block(window: nil, sinks: .int(4))),
        ]
        let errors = try schemaErrors(bad.map(\.1))
        for ((what, _), e) in zip(bad, errors) { #expect(!e.isEmpty, "accepted: \(what)") }
        var plan = Self.plan(.hedgehog, shared: false)
        plan.window = 64
        plan.sinks = 4
        let written = Swap.linearAttentionBlock(plan: plan, sourceFiles: [SourceFile(name: "model.safetensors", sha256: Self.sha)])
        #expect(written["sinks"]?.intValue == 4)
        #expect(try schemaErrors([written]) == [[]])
    }

    @Test func blockLayout() {
        #expect(Self.valid.serialized() == #"{"feature_map":"t2r","feature_dim":16,"layers":[0,2],"eps":1e-06,"shared_qk":true,"folded":false,"seed":18446744073709551615,"template_version":2,"source":{"files":[{"name":"model.safetensors","sha256":"\#(Self.sha)"}]}}"#)
    }

    /// Each malformed variant is rejected.
    @Test func malformedBlocksAreRejected() throws {
        func edit(_ body: (inout JSON) -> Void) -> JSON {
            var b = Self.valid
            body(&b)
            return b
        }
        func drop(_ key: String) -> JSON { .object((Self.valid.objectValue ?? []).filter { $0.0 != key }) }
        func file(_ name: JSON, _ sha: JSON) -> JSON { .object([("files", .array([.object([("name", name), ("sha256", sha)])]))]) }
        let bad: [(String, JSON)] = [
            ("missing seed", drop("seed")),
            ("missing source", drop("source")),
            ("missing layers", drop("layers")),
            ("extra key", edit { $0.set("extra", .bool(true)) }),
            ("unknown map", edit { $0.set("feature_map", .string("cosformer")) }),
            ("zero feature dim", edit { $0.set("feature_dim", .int(0)) }),
            ("fractional feature dim", edit { $0.set("feature_dim", .number("1.5")) }),
            ("negative layer", edit { $0.set("layers", .array([.int(-1)])) }),
            ("repeated layer", edit { $0.set("layers", .array([.int(1), .int(1)])) }),
            ("no layers", edit { $0.set("layers", .array([])) }),
            ("zero eps", edit { $0.set("eps", .int(0)) }),
            ("string eps", edit { $0.set("eps", .string("1e-6")) }),
            ("negative seed", edit { $0.set("seed", .int(-1)) }),
            ("seed beyond 64 bits", edit { $0.set("seed", .number("18446744073709551616")) }),
            ("shared_qk not boolean", edit { $0.set("shared_qk", .int(1)) }),
            ("uppercase sha", edit { $0.set("source", file(.string("model.safetensors"), .string(Self.sha.uppercased()))) }),
            ("short sha", edit { $0.set("source", file(.string("model.safetensors"), .string("abc"))) }),
            ("path as name", edit { $0.set("source", file(.string("a/model.safetensors"), .string(Self.sha))) }),
            ("no files", edit { $0.set("source", .object([("files", .array([]))])) }),
            ("extra source key", edit { $0.set("source", .object([("files", .array([])), ("path", .string("/x"))])) }),
            ("folded performer", edit { $0.set("feature_map", .string("performer")); $0.set("folded", .bool(true)) }),
            ("folded shared", edit { $0.set("folded", .bool(true)) }),
            ("performer split", edit { $0.set("feature_map", .string("performer")); $0.set("shared_qk", .bool(false)) }),
            ("hedgehog shared", edit { $0.set("feature_map", .string("hedgehog")) }),
            ("not an object", .array([])),
        ]
        let errors = try schemaErrors(bad.map(\.1))
        for ((what, _), e) in zip(bad, errors) { #expect(!e.isEmpty, "accepted: \(what)") }
    }

    /// Every config the swap writes validates (one per feature map and fold), checked in SwapTests too.
    @Test func writtenConfigsValidate() throws {
        let dir = TempDir()
        var blocks: [JSON] = []
        for (k, o) in [options(.t2r), options(.t2r) { $0.separateQK = true }, options(.t2r) { $0.fold = true },
                       options(.performer) { $0.featureDim = 8 }, options(.elu), options(.hedgehog)].enumerated() {
            let dst = dir.file("m\(k)")
            _ = try Swap.write(source: fixture("gpt2-prefixed"), destination: dst, options: o)
            blocks.append(try #require(readConfig(dst + "/config.json")["linear_attention"]))
        }
        #expect(try schemaErrors(blocks) == Array(repeating: [], count: blocks.count))
    }
}
