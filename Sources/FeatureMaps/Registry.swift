/// One of the known feature maps, as `LinearAttentionConfig` and `SwapOptions` hold it. Compared by name;
/// the name is what config.json and the command line say.
public struct FeatureMapKind: Sendable, Hashable, RawRepresentable, CaseIterable, CustomStringConvertible {
    /// The map itself: dimensions, parameters, initialiser and kernels.
    public let map: any FeatureMap

    public init(_ map: any FeatureMap) { self.map = map }

    /// The known map of this name, or nil.
    public init?(rawValue: String) {
        guard let known = knownFeatureMaps.first(where: { $0.name == rawValue }) else { return nil }
        self = known
    }

    /// The known map of this name; the error lists the known names.
    public static func named(_ name: String) throws(FeatureMapError) -> FeatureMapKind {
        guard let kind = FeatureMapKind(rawValue: name) else {
            throw FeatureMapError("'\(name)' is not a feature map Recast knows (\(FeatureMapKind.knownNames))")
        }
        return kind
    }

    /// The known names, comma-separated, for messages: `t2r, performer, elu, hedgehog`.
    public static var knownNames: String { knownFeatureMaps.map(\.name).joined(separator: ", ") }

    public static var allCases: [FeatureMapKind] { knownFeatureMaps }

    public var name: String { map.name }
    public var rawValue: String { map.name }
    public var description: String { map.name }

    public static func == (a: FeatureMapKind, b: FeatureMapKind) -> Bool { a.name == b.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}

/// The feature maps Recast knows. Adding a map is a new file conforming to `FeatureMap` and its entry here.
public let knownFeatureMaps: [FeatureMapKind] = [.t2r, .performer, .elu, .hedgehog]

/// A feature-map name Recast does not know, or a use a map does not support.
public struct FeatureMapError: Error, CustomStringConvertible, Sendable, Equatable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
