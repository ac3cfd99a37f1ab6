import Foundation
import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
@testable import Rewrite

/// Every tensor of a store with its bytes.
func tensorBytes(_ store: TensorStore) throws -> [String: (TensorInfo, [UInt8])] {
    var out: [String: (TensorInfo, [UInt8])] = [:]
    for t in store.tensors { out[t.name] = (t, try store.withBytes(of: t.name) { Array($0) }) }
    return out
}

/// The bytes an output tensor produces.
func produced(_ t: OutputTensor) throws -> [UInt8] { try t.gather { Array($0) } }

/// An F32 output tensor's values.
func floats(_ t: OutputTensor) throws -> [Float] {
    #expect(t.info.dtype == .f32, "\(t.info.name) is \(t.info.dtype.rawValue)")
    let b = try produced(t)
    return b.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

func options(_ map: FeatureMapKind, _ configure: (inout SwapOptions) -> Void = { _ in }) -> SwapOptions {
    var o = SwapOptions(featureMap: map)
    configure(&o)
    return o
}

/// Validates JSON instances against schemas/linear-attention.schema.json with Python's jsonschema
/// (Draft 2020-12); returns each instance's error messages (empty when valid).
func schemaErrors(_ instances: [JSON]) throws -> [[String]] {
    try schemaErrors(instances, schema: repoRoot + "/schemas/linear-attention.schema.json")
}

/// Reads a config.json.
func readConfig(_ path: String) throws -> JSON { try JSON.parse(FileSystem.readAll(path)) }

/// The config without what a swap adds: its `linear_attention` block, `auto_map`, and the `recast_` prefix of
/// `model_type`.
func withoutBlock(_ config: JSON) -> JSON {
    .object((config.objectValue ?? []).filter { $0.0 != "linear_attention" && $0.0 != "auto_map" }.map { key, value in
        guard key == "model_type", let type = value.stringValue else { return (key, value) }
        return (key, .string(ModelGraph.baseModelType(type)))
    })
}

/// Every file of a folder with its bytes.
func folderBytes(_ dir: String) throws -> [String: [UInt8]] {
    var out: [String: [UInt8]] = [:]
    for name in FileSystem.list(dir) { out[name] = try FileSystem.readAll(FileSystem.join(dir, name)) }
    return out
}

/// The feature-map tensors a swap must add, by name and shape, written from the contract
/// (not from the implementation).
func expectedNewTensors(_ g: ModelGraph, map: FeatureMapKind, k: Int, layers: [Int], shared: Bool, folded: Bool) -> [String: [Int]] {
    var out: [String: [Int]] = [:]
    for i in layers {
        let a = g.blocks[i].attention
        let p = a.modulePath, h = a.heads, d = a.headDim
        switch map {
        case .elu: break
        case .performer: out[p + ".feature_map.projection"] = [h, k, d]
        case .hedgehog, .t2r:
            let width = folded ? g.hiddenSize : d
            for base in (shared ? ["feature_map"] : ["feature_map_q", "feature_map_k"]) {
                out[p + ".\(base).weight"] = [h, k, width]
                out[p + ".\(base).bias"] = [h, k]
            }
        default: Issue.record("no contract written for feature map \(map)")
        }
    }
    return out
}

/// y = W x + b for a row-major `[rows, cols]` W, in Double.
func affine(_ w: [Double], _ b: [Double]?, _ x: [Double], rows: Int, cols: Int) -> [Double] {
    (0..<rows).map { r in
        var s = b?[r] ?? 0
        for c in 0..<cols { s += w[r * cols + c] * x[c] }
        return s
    }
}
