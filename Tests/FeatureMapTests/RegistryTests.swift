import Testing
import RecastCore
import FeatureMaps

@Suite struct RegistryTests {
    @Test func listsTheFourMapsByName() throws {
        #expect(knownFeatureMaps.map(\.name) == ["t2r", "performer", "elu", "hedgehog"])
        #expect(FeatureMapKind.allCases == knownFeatureMaps)
        for kind in knownFeatureMaps {
            #expect(FeatureMapKind(rawValue: kind.name) == kind)
            #expect(try FeatureMapKind.named(kind.name).rawValue == kind.name)
        }
        #expect(FeatureMapKind(rawValue: "T2R") == nil)
        #expect(FeatureMapKind.t2r != FeatureMapKind.performer)
        #expect(Set(knownFeatureMaps).count == 4)
    }

    @Test func unknownNameListsTheKnownOnes() {
        #expect {
            _ = try FeatureMapKind.named("cosformer")
        } throws: { error in
            "\(error)" == "'cosformer' is not a feature map Recast knows (t2r, performer, elu, hedgehog)"
        }
    }

    /// Dimensions and feature counts: hedgehog has 2k features, elu keeps d.
    @Test func dimensionsAndFeatureCounts() {
        let d = 64
        #expect(knownFeatureMaps.map { $0.map.defaultDimension(headDim: d) } == [32, 256, 64, 64])
        #expect(knownFeatureMaps.map { $0.map.featureCount(dimension: 16, headDim: d) } == [16, 16, 64, 32])
        #expect(FeatureMapKind.elu.map.dimensionRefusal(16, headDim: d) != nil)
        #expect(FeatureMapKind.elu.map.dimensionRefusal(64, headDim: d) == nil)
        #expect(knownFeatureMaps.map(\.map.canFold) == [true, false, false, false])
        #expect(FeatureMapKind.t2r.map.qkSharing == .optional)
        #expect(FeatureMapKind.hedgehog.map.qkSharing == .alwaysSeparate)
        for kind in [FeatureMapKind.performer, .elu] {
            guard case .refused = kind.map.qkSharing else { Issue.record("\(kind) accepts --separate-qk"); continue }
        }
    }

    /// The tensor names and shapes of config format 1 (schemas/linear-attention.schema.json, README).
    @Test func parameterNamesAndShapes() {
        func names(_ kind: FeatureMapKind, shared: Bool, folded: Bool = false) -> [String] {
            let layout = FeatureMapLayout(heads: 4, headDim: 8, dimension: 16, sharedQK: shared, folded: folded, hiddenSize: 32)
            return kind.map.parameters(layout).map { "\($0.suffix) \($0.shape) \($0.trained)" }
        }
        #expect(names(.t2r, shared: true) == ["feature_map.weight [4, 16, 8] true", "feature_map.bias [4, 16] true"])
        #expect(names(.t2r, shared: false) == ["feature_map_q.weight [4, 16, 8] true", "feature_map_q.bias [4, 16] true",
                                               "feature_map_k.weight [4, 16, 8] true", "feature_map_k.bias [4, 16] true"])
        #expect(names(.t2r, shared: true, folded: true) == ["feature_map_q.weight [4, 16, 32] true", "feature_map_q.bias [4, 16] true",
                                                            "feature_map_k.weight [4, 16, 32] true", "feature_map_k.bias [4, 16] true"])
        #expect(names(.hedgehog, shared: true) == names(.t2r, shared: false))
        #expect(names(.performer, shared: false) == ["feature_map.projection [4, 16, 8] false"])
        #expect(names(.elu, shared: true).isEmpty)
    }

    /// Hedgehog starts at the rectangular identity with zero bias; T2R's values are uniform in ±1/√d.
    @Test func initialValues() {
        let layout = FeatureMapLayout(heads: 2, headDim: 4, dimension: 6, sharedQK: true, hiddenSize: 8)
        let hh = FeatureMapKind.hedgehog.map.parameters(layout)
        let w = FeatureMapKind.hedgehog.map.initialValues(hh[0], layout: layout, seed: 1, layer: 0, head: 1)
        #expect(w == (0..<24).map { i in i / 4 == i % 4 ? 1 : 0 })
        #expect(FeatureMapKind.hedgehog.map.initialValues(hh[1], layout: layout, seed: 1, layer: 0, head: 1) == [0, 0, 0, 0, 0, 0])
        let t = FeatureMapKind.t2r.map.parameters(layout)
        let tw = FeatureMapKind.t2r.map.initialValues(t[0], layout: layout, seed: 1, layer: 0, head: 1)
        #expect(tw.count == 24 && tw.allSatisfy { abs($0) <= 0.5 } && Set(tw).count == 24)
        #expect(tw != FeatureMapKind.t2r.map.initialValues(t[0], layout: layout, seed: 1, layer: 0, head: 0))
    }
}
