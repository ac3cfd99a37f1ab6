#if canImport(Glibc)
import Glibc
#endif
import FeatureMaps
import Runtime

/// The tensor suffix of a hybrid layer's window factors g_h (`[H]`, γ_h = sigmoid(g_h)).
public let windowFactorsSuffix = "window_factors"

/// The trained values of one layer as one vector, in a fixed order: each trained map parameter (every head's
/// slice in turn), then the window factors. Fixed parameters (performer's projection) stay out.
struct TrainedParameters {
    struct Entry {
        let parameter: FeatureMapParameter
        let offset: Int
    }

    let layer: TransferLayer
    let entries: [Entry]
    /// Where g_h starts, when the layer has a window.
    let windowOffset: Int?
    let count: Int

    init(_ layer: TransferLayer) {
        self.layer = layer
        var entries: [Entry] = [], offset = 0
        for p in layer.map.map.parameters(layer.layout) where p.trained {
            entries.append(Entry(parameter: p, offset: offset))
            offset += p.headCount * layer.layout.heads
        }
        self.entries = entries
        windowOffset = layer.window == nil ? nil : offset
        count = offset + (layer.window == nil ? 0 : layer.layout.heads)
    }

    /// Why `parameters` cannot be the values of this layer (a tensor missing or of the wrong size); nil when it can.
    func refusal(_ parameters: LayerParameters) -> String? {
        var expected = layer.map.map.parameters(layer.layout).map { ($0.suffix, $0.shape.reduce(1, *)) }
        if layer.window != nil { expected.append((windowFactorsSuffix, layer.layout.heads)) }
        for (suffix, count) in expected {
            guard let values = parameters[suffix] else { return "the \(layer.map.name) layer has no '\(suffix)' values" }
            guard values.count == count else { return "'\(suffix)' holds \(values.count) values, expected \(count)" }
        }
        return nil
    }

    func pack(_ parameters: LayerParameters) -> [Double] {
        var out = [Double](repeating: 0, count: count)
        for entry in entries {
            for (i, v) in (parameters[entry.parameter.suffix] ?? []).enumerated() { out[entry.offset + i] = Double(v) }
        }
        if let w = windowOffset {
            for (i, v) in (parameters[windowFactorsSuffix] ?? []).enumerated() { out[w + i] = Double(v) }
        }
        return out
    }

    /// `base` with the trained values replaced by those of `vector`.
    func unpack(_ vector: [Double], into base: LayerParameters) -> LayerParameters {
        var out = base
        let heads = layer.layout.heads
        for entry in entries {
            let n = entry.parameter.headCount * heads
            out[entry.parameter.suffix] = vector[entry.offset..<(entry.offset + n)].map { Float($0) }
        }
        if let w = windowOffset { out[windowFactorsSuffix] = vector[w..<(w + heads)].map { Float($0) } }
        return out
    }

    /// The student these parameters make: each role's weights as the runtime loads them (a shared map serves q and k).
    func student(_ parameters: LayerParameters) -> Student {
        let layout = layer.layout
        var weights: [FeatureMapRole: FeatureMapWeights] = [:]
        for p in layer.map.map.parameters(layout) {
            weights[p.role, default: FeatureMapWeights(dimension: layout.dimension, inFeatures: layout.inFeatures)]
                .values[p.key] = parameters[p.suffix] ?? []
        }
        let empty = FeatureMapWeights(dimension: layout.dimension, inFeatures: layout.inFeatures)
        let gates = (parameters[windowFactorsSuffix] ?? []).map { 1 / (1 + expf(-$0)) }
        return Student(layer: layer, query: weights[.query] ?? weights[.shared] ?? empty,
                       key: weights[.key] ?? weights[.shared] ?? empty, gates: layer.window == nil ? [] : gates)
    }

    /// The role whose parameters φ_q (or φ_k) uses: its own, or the shared map's.
    func role(query: Bool) -> FeatureMapRole {
        let own: FeatureMapRole = query ? .query : .key
        return entries.contains { $0.parameter.role == own } ? own : .shared
    }

    /// Adds one head's gradients to the layer's gradient vector.
    func accumulate(_ result: HeadResult, head h: Int, into gradient: inout [Double]) {
        let queryRole = role(query: true), keyRole = role(query: false)
        for entry in entries {
            let p = entry.parameter, base = entry.offset + h * p.headCount
            for (values, role) in [(result.query, queryRole), (result.key, keyRole)] where role == p.role {
                guard let g = values[p.key] else { continue }
                for i in 0..<p.headCount { gradient[base + i] += Double(g[i]) }
            }
        }
        if let w = windowOffset { gradient[w + h] += result.gate }
    }
}
