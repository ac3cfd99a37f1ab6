/// Parses sizes such as `5GB` (10^9 bytes), `500MiB` (2^20), `1e9` or `1000`.
public enum ByteSize {
    public static func parse(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: " ")
        var digits = Substring(t)
        var unit = ""
        while let last = digits.last, last.isLetter {
            unit = String(last) + unit
            digits = digits.dropLast()
        }
        guard let value = Double(digits.trimmingCharacters(in: " ")), value > 0, value.isFinite else { return nil }
        let scale: Double
        switch unit.uppercased() {
        case "", "B": scale = 1
        case "KB", "K": scale = 1e3
        case "MB", "M": scale = 1e6
        case "GB", "G": scale = 1e9
        case "TB", "T": scale = 1e12
        case "KIB": scale = 1024
        case "MIB": scale = 1_048_576
        case "GIB": scale = 1_073_741_824
        case "TIB": scale = 1_099_511_627_776
        default: return nil
        }
        let bytes = value * scale
        guard bytes >= 1, bytes < 9e18 else { return nil }
        return Int(bytes)
    }

    /// A short human form: `1.23 GB`, `512 B`.
    public static func format(_ n: Int) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var v = Double(n), u = 0
        while v >= 1000, u < units.count - 1 { v /= 1000; u += 1 }
        if u == 0 { return "\(n) B" }
        return formatFixed(v, digits: v < 10 ? 2 : (v < 100 ? 1 : 0)) + " " + units[u]
    }
}

extension StringProtocol {
    /// The string without leading and trailing copies of `set`.
    public func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

/// Formats a double with a fixed number of decimals, without Foundation.
public func formatFixed(_ v: Double, digits: Int) -> String {
    if v.isNaN { return "nan" }
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(v) * scale).rounded()
    let whole = Int(r / scale)
    var frac = String(Int(r - Double(whole) * scale))
    while frac.count < digits { frac = "0" + frac }
    let sign = v < 0 && r != 0 ? "-" : ""
    return digits == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(frac)"
}
