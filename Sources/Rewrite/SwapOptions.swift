import ModelGraph
import RecastCore

/// Why a swap cannot be done as asked: the file or option concerned and what to do about it.
public struct SwapError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file concerned (the source model, the destination); nil for a problem with the options alone.
    public var file: String?
    public var reason: String

    public init(file: String? = nil, _ reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { file.map { "\($0): \(reason)" } ?? reason }
}

/// The weights format of a swapped model.
public enum SwapFormat: String, Sendable, CaseIterable {
    /// `model.safetensors`, or shards and an index when the source is sharded.
    case safetensors
    /// One `model.h5`.
    case hdf5
}

/// Which layers to swap: `all`, or indices and inclusive ranges such as `0,2,5`, `0-5`, `0-2,5`.
public enum LayerSelection: Sendable, Equatable, CustomStringConvertible {
    case all
    case ranges([ClosedRange<Int>])

    /// Parses the syntax; whether the layers exist is checked by `resolve(layerCount:)`.
    public init(_ text: String) throws(SwapError) {
        let trimmed = text.trimmingSpaces
        if trimmed.lowercased() == "all" {
            self = .all
            return
        }
        func bad(_ why: String) -> SwapError {
            SwapError("--layers '\(text)': \(why); use 'all', indices such as 0,2,5, or ranges such as 0-5")
        }
        guard !trimmed.isEmpty else { throw bad("no layers given") }
        var ranges: [ClosedRange<Int>] = []
        for raw in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let item = String(raw).trimmingSpaces
            guard !item.isEmpty else { throw bad("an entry is empty") }
            let ends = item.split(separator: "-", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
            switch ends.count {
            case 1:
                guard let i = LayerSelection.index(ends[0]) else { throw bad("'\(item)' is not a layer index") }
                ranges.append(i...i)
            case 2:
                guard let lo = LayerSelection.index(ends[0]), let hi = LayerSelection.index(ends[1]) else {
                    throw bad("'\(item)' is not a range of layer indices")
                }
                guard lo <= hi else { throw bad("the range '\(item)' runs backwards") }
                ranges.append(lo...hi)
            default:
                throw bad("'\(item)' is not a layer index or range")
            }
        }
        self = .ranges(ranges)
    }

    /// The selected layers, ascending and without repeats; throws when one does not exist.
    public func resolve(layerCount: Int, file: String? = nil) throws(SwapError) -> [Int] {
        switch self {
        case .all:
            return Array(0..<layerCount)
        case let .ranges(ranges):
            var set = Set<Int>()
            for r in ranges {
                guard r.upperBound < layerCount else {
                    let valid = layerCount == 1 ? "only layer 0" : "layers 0-\(layerCount - 1)"
                    throw SwapError(file: file, "--layers \(description): layer \(r.upperBound) is out of range; the model has \(layerCount) layer\(layerCount == 1 ? "" : "s") (\(valid))")
                }
                set.formUnion(r)
            }
            return set.sorted()
        }
    }

    /// Parses and resolves in one step: `LayerSelection.parse("0-2,5", layerCount: 12)` is `[0, 1, 2, 5]`.
    public static func parse(_ text: String, layerCount: Int) throws(SwapError) -> [Int] {
        try LayerSelection(text).resolve(layerCount: layerCount)
    }

    /// The canonical text: `all`, or entries joined by commas.
    public var description: String {
        switch self {
        case .all: "all"
        case let .ranges(r): r.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
        }
    }

    /// Compact text for a resolved list: `[0, 1, 2, 5]` → `0-2,5`.
    public static func text(_ layers: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < layers.count {
            var j = i
            while j + 1 < layers.count && layers[j + 1] == layers[j] + 1 { j += 1 }
            parts.append(j == i ? "\(layers[i])" : "\(layers[i])-\(layers[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    static func index(_ s: String) -> Int? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(s)
    }
}

/// What `recast swap` is asked to do. Defaults follow the command line.
public struct SwapOptions: Sendable {
    public var featureMap: FeatureMapKind
    /// k for t2r (default 32) and hedgehog (default d), m for performer (default 256); elu keeps d.
    public var featureDim: Int?
    public var layers: LayerSelection = .all
    public var seed: UInt64 = 0
    /// T2R: one map for q and one for k instead of one shared map.
    public var separateQK = false
    /// T2R: multiply the maps into the q and k projections.
    public var fold = false
    public var eps: Double = LinearAttentionConfig.defaultEps
    public var format: SwapFormat = .safetensors
    public var force = false
    /// The sliding-window hybrid (LoLCATs, W = 64): softmax over the last W positions, linear attention
    /// beyond; adds `{P}.window_factors` `[H]`. nil: plain linear attention.
    public var window: Int?
    /// Attention sinks (StreamingLLM): with a window, the first `sinks` positions stay in every query's softmax
    /// terms and never enter the linear sums. Many models put a large share of their attention on the first
    /// token, which a feature map reproduces badly. 0: none.
    public var sinks = 0

    public init(featureMap: FeatureMapKind) { self.featureMap = featureMap }

    /// Checks what needs no model: dimensions, eps, and which flags go with which feature map.
    public func validate() throws(SwapError) {
        if let k = featureDim, k <= 0 {
            throw SwapError("--feature-dim must be a positive number of features (got \(k))")
        }
        guard LinearAttentionConfig.epsRange.contains(eps) else {
            throw SwapError("--eps must be a positive number (got \(eps)); it keeps the linear-attention denominator away from zero")
        }
        let map = featureMap.map
        if separateQK, case let .refused(why) = map.qkSharing { throw SwapError(why) }
        if fold, let why = map.foldRefusal { throw SwapError(why) }
        if let w = window {
            guard w > 0 else { throw SwapError("--window must be a positive number of positions (got \(w)); LoLCATs uses 64") }
            if fold {
                throw SwapError("--window is refused with --fold: the window's softmax needs q·k of the last W positions, so q and k must still be formed, and a folded map replaces them")
            }
        }
        if sinks < 0 { throw SwapError("--sinks must be a number of positions, 0 or more (got \(sinks))") }
        if sinks > 0 && window == nil {
            throw SwapError("--sinks needs --window: sinks are positions the window hybrid's softmax always keeps (for example --window 64 --sinks 4)")
        }
        if let w = window, sinks > w {
            throw SwapError("--sinks \(sinks) is more than --window \(w): a few sinks (4 is usual) beside the window, not more than it holds")
        }
    }

    /// What the options ask that changes nothing, one line each, for the user to see.
    public var warnings: [String] {
        if separateQK && featureMap.map.qkSharing == .alwaysSeparate {
            return ["--separate-qk changes nothing for \(featureMap.name): its q and k feature maps are always separate"]
        }
        return []
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

extension SwapPlan {
    /// Memory the largest new tensor takes while it is drawn and written: its values as doubles, their copy
    /// rounded through the stored dtype, and the encoded bytes (at most 8 a value).
    public func memoryNeed(graph: ModelGraph) -> MemoryNeed {
        var need = MemoryNeed()
        let largest = layers.flatMap { graph.linearAttentionTensors(config, layer: $0) }
            .map { MemoryNeed.product($0.ref.shape) }.max() ?? 0
        if largest > 0 { need.add(window == nil ? "feature-map values" : "feature-map and window-factor values", [largest, 3], bytesEach: 8) }
        return need
    }

    /// Throws when the feature-map tensors of this plan cannot be drawn under the memory limit that applies now.
    public func checkMemory(graph: ModelGraph, file: String?) throws(SwapError) {
        if let message = memoryNeed(graph: graph).refusal(for: "feature dim \(featureDim)") {
            throw SwapError(file: file, message)
        }
    }
}

