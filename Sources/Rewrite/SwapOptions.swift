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

    public init(featureMap: FeatureMapKind) { self.featureMap = featureMap }

    public static let defaultT2RFeatures = 32
    public static let defaultPerformerFeatures = 256

    /// Checks what needs no model: dimensions, eps, and which flags go with which feature map.
    public func validate() throws(SwapError) {
        if let k = featureDim, k <= 0 {
            throw SwapError("--feature-dim must be a positive number of features (got \(k))")
        }
        guard LinearAttentionConfig.epsRange.contains(eps) else {
            throw SwapError("--eps must be a positive number (got \(eps)); it keeps the linear-attention denominator away from zero")
        }
        if separateQK {
            switch featureMap {
            case .t2r, .hedgehog: break
            case .performer:
                throw SwapError("--separate-qk does not apply to performer: its random projection is fixed and shared by q and k")
            case .elu:
                throw SwapError("--separate-qk does not apply to elu: elu(x)+1 has no parameters")
            }
        }
        if fold {
            switch featureMap {
            case .t2r: break
            case .performer:
                throw SwapError("--fold is refused for performer: φ(x) = m^(-1/2)·exp(ωᵀx′ − ‖x′‖²/2) needs ‖q‖² besides the projection ωᵀq, so q itself must still be formed and there is no linear first stage to fold")
            case .elu:
                throw SwapError("--fold is refused for elu: elu(x)+1 acts on q and k element by element and has no linear stage to fold into the projections")
            case .hedgehog:
                throw SwapError("--fold is refused for hedgehog: the folded format (config 'folded', the runtime and tools/reference.py) is defined for t2r only, and Hedgehog's maps start as the identity to be trained on q and k themselves; with k = d a folded map would be as large as the projection it replaces")
            }
        }
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
    /// Memory the largest feature-map tensor takes while it is drawn and written: its values as doubles,
    /// their copy rounded through the stored dtype, and the encoded bytes (at most 8 a value). Hedgehog
    /// also keeps one head's map beside the stacked heads.
    public func memoryNeed(graph: ModelGraph) -> MemoryNeed {
        var need = MemoryNeed()
        guard featureMap != .elu else { return need }
        let largest = layers.map { graph.blocks[$0].attention }.map { MemoryNeed.product([$0.heads, featureDim, $0.headDim]) }.max() ?? 0
        need.add("feature-map values", [largest, 3], bytesEach: 8)
        return need
    }

    /// Throws when the feature-map tensors of this plan cannot be drawn under the memory limit that applies now.
    public func checkMemory(graph: ModelGraph, file: String?) throws(SwapError) {
        if let message = memoryNeed(graph: graph).refusal(for: "feature dim \(featureDim)") {
            throw SwapError(file: file, message)
        }
    }
}

