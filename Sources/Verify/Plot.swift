import RecastCore

/// Draws a verify report as an SVG: per-layer attention error (bars), and inference-state memory against
/// sequence length (KV cache against the converted model's state, log–log).
public enum ReportPlot {
    public static func svg(_ r: VerifyReport) -> String {
        let w = 880.0, h = 360.0
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """
        s += errorPanel(r, x: 60, y: 40, w: 340, h: 260)
        s += statePanel(r, x: 500, y: 40, w: 340, h: 260)
        s += "</svg>\n"
        return s
    }

    static func n(_ v: Double) -> String { formatFixed(v, digits: 1) }

    static func errorPanel(_ r: VerifyReport, x: Double, y: Double, w: Double, h: Double) -> String {
        var s = "<text x=\"\(n(x))\" y=\"\(n(y - 16))\" font-size=\"14\">Attention output error per layer (linear vs softmax)</text>\n"
        s += axes(x: x, y: y, w: w, h: h)
        let largest = r.layers.map(\.relativeError).filter(\.isFinite).max() ?? 0
        let ticks = AxisTicks(upTo: largest)
        let top = ticks.top
        let count = max(r.layers.count, 1)
        let slot = w / Double(count)
        for (i, l) in r.layers.enumerated() {
            let bh = l.relativeError.isFinite ? min(max(l.relativeError, 0), top) / top * h : 0
            let bx = x + Double(i) * slot + slot * 0.15
            let colour = l.linear ? "#3b6fb6" : "#bbbbbb"
            s += "<rect x=\"\(n(bx))\" y=\"\(n(y + h - bh))\" width=\"\(n(slot * 0.7))\" height=\"\(n(bh))\" fill=\"\(colour)\"><title>layer \(l.layer): \(format(l.relativeError))</title></rect>\n"
            if !l.linear {
                s += "<text x=\"\(n(bx + slot * 0.35))\" y=\"\(n(y + h - 6))\" text-anchor=\"middle\" fill=\"#888888\">softmax</text>\n"
            }
            if count <= 48 || i % (count / 24) == 0 {
                s += "<text x=\"\(n(bx + slot * 0.35))\" y=\"\(n(y + h + 14))\" text-anchor=\"middle\">\(l.layer)</text>\n"
            }
        }
        s += "<text x=\"\(n(x + w / 2))\" y=\"\(n(y + h + 32))\" text-anchor=\"middle\">layer</text>\n"
        for v in ticks.values {
            s += "<text x=\"\(n(x - 6))\" y=\"\(n(y + h - h * v / top + 4))\" text-anchor=\"end\">\(ticks.label(v))</text>\n"
        }
        return s
    }

    static func statePanel(_ r: VerifyReport, x: Double, y: Double, w: Double, h: Double) -> String {
        var s = "<text x=\"\(n(x))\" y=\"\(n(y - 16))\" font-size=\"14\">Inference state per sequence (bytes)</text>\n"
        s += axes(x: x, y: y, w: w, h: h)
        let pts = r.stateCurve
        guard let first = pts.first, let last = pts.last else { return s }
        let values = pts.flatMap { [Double($0.kvCacheBytes), Double($0.convertedBytes)] }.filter { $0 > 0 }
        let lo = log10(max(values.min() ?? 1, 1)).rounded(.down), hi = log10(max(values.max() ?? 10, 10)) + 0.1
        let lx0 = log10(Double(first.length)), lx1 = log10(Double(last.length))
        func px(_ len: Int) -> Double { x + (log10(Double(len)) - lx0) / max(lx1 - lx0, 1e-9) * w }
        func py(_ b: Int) -> Double { y + h - (log10(max(Double(b), 1)) - lo) / max(hi - lo, 1e-9) * h }
        func line(_ f: (StatePoint) -> Int, _ colour: String) -> String {
            "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"" +
                pts.map { "\(n(px($0.length))),\(n(py(f($0))))" }.joined(separator: " ") + "\"/>\n"
        }
        s += line({ $0.kvCacheBytes }, "#c0392b")
        s += line({ $0.convertedBytes }, "#3b6fb6")
        for p in pts where [64, 1024, 16384, 65536].contains(p.length) {
            s += "<text x=\"\(n(px(p.length)))\" y=\"\(n(y + h + 14))\" text-anchor=\"middle\">\(p.length)</text>\n"
        }
        s += "<text x=\"\(n(x + w / 2))\" y=\"\(n(y + h + 32))\" text-anchor=\"middle\">sequence length (tokens, log scale)</text>\n"
        var e = Int(lo.rounded(.up))
        while Double(e) <= hi {
            s += "<text x=\"\(n(x - 6))\" y=\"\(n(py(Int(pow10(e))) + 4))\" text-anchor=\"end\">\(ByteSize.format(Int(pow10(e))))</text>\n"
            e += 1
        }
        s += "<text x=\"\(n(x + 10))\" y=\"\(n(y + 14))\" fill=\"#c0392b\">original KV cache</text>\n"
        s += "<text x=\"\(n(x + 10))\" y=\"\(n(y + 30))\" fill=\"#3b6fb6\">converted (\(xml(r.featureMap)))</text>\n"
        return s
    }

    /// Text for an SVG element: the five XML specials as entities, and characters XML 1.0 cannot hold dropped.
    static func xml(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: if u.value >= 0x20 || u == "\t" || u == "\n" { out.unicodeScalars.append(u) }
            }
        }
        return out
    }

    static func pow10(_ e: Int) -> Double { var v = 1.0; for _ in 0..<max(e, 0) { v *= 10 }; return v }

    static func log10(_ v: Double) -> Double { Glibc.log10(v) }

    static func axes(x: Double, y: Double, w: Double, h: Double) -> String {
        "<line x1=\"\(n(x))\" y1=\"\(n(y + h))\" x2=\"\(n(x + w))\" y2=\"\(n(y + h))\" stroke=\"black\"/>\n" +
            "<line x1=\"\(n(x))\" y1=\"\(n(y))\" x2=\"\(n(x))\" y2=\"\(n(y + h))\" stroke=\"black\"/>\n"
    }
}

/// Ticks for a linear axis from 0: a round step (1, 2, 2.5 or 5 × 10^k) giving at most `intervals`
/// intervals up to the first tick at or above the largest value, labelled without trailing digits
/// (0, 0.25, 0.5, 0.75, 1 rather than 0.2716, 0.5432).
struct AxisTicks {
    var step: Double
    var values: [Double]
    var top: Double { values.last ?? 1 }
    /// The power of ten of the step: labels use as many decimals as it needs.
    var exponent: Int

    init(upTo largest: Double, intervals: Int = 4) {
        let largest = largest.isFinite && largest > 0 ? largest : 1
        let raw = largest / Double(max(intervals, 1))
        var e = Int(Glibc.log10(raw).rounded(.down))
        var mantissa = 10.0
        for m in [1.0, 2.0, 2.5, 5.0] where AxisTicks.value(m, e) >= raw * (1 - 1e-12) {
            mantissa = m
            break
        }
        if mantissa == 10 { mantissa = 1; e += 1 }
        // k × mantissa is exact, and one multiplication or division by a power of ten rounds once, so a
        // tick is the double nearest its decimal value (3e-05, not 2.9999999999999997e-05).
        var count = max(1, Int((largest / AxisTicks.value(mantissa, e) * (1 - 1e-12)).rounded(.up)))
        if AxisTicks.value(Double(count) * mantissa, e) < largest { count += 1 }
        self.step = AxisTicks.value(mantissa, e)
        self.exponent = e
        self.values = (0...count).map { AxisTicks.value(Double($0) * mantissa, e) }
    }

    /// m × 10^e, rounded once.
    static func value(_ m: Double, _ e: Int) -> Double {
        e >= 0 ? m * Glibc.pow(10, Double(e)) : m / Glibc.pow(10, Double(-e))
    }

    /// `0.25`, `2`, `1.5e-05`: fixed notation for steps from 10^-3 to below 10^5, scientific beyond,
    /// with only the decimals the step needs.
    func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        let extra = (step / Glibc.pow(10, Double(exponent)) - 2.5).magnitude < 1e-9 ? 1 : 0
        if exponent >= -3 && exponent < 5 {
            return AxisTicks.trimmed(formatFixed(v, digits: max(0, -exponent + extra)))
        }
        let mantissa = AxisTicks.trimmed(formatFixed(v / Glibc.pow(10, Double(exponent)), digits: extra))
        return mantissa + "e" + (exponent < 0 ? "-" : "+") + (abs(exponent) < 10 ? "0" : "") + String(abs(exponent))
    }

    /// Drops trailing zeros after a decimal point, and the point itself when nothing follows it.
    static func trimmed(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = Substring(s)
        while t.last == "0" { t = t.dropLast() }
        if t.last == "." { t = t.dropLast() }
        return String(t)
    }
}

#if canImport(Glibc)
import Glibc
#endif
