import RecastCore

/// Loss curves as an SVG, one small panel per curve set: `recast calibrate --plot` draws each layer's training
/// loss (per step) and validation loss (at each evaluation) on a log scale. Shares the axes and text escaping of
/// `ReportPlot`.
public enum LossPlot {
    /// One panel: a title and its curves, each a colour-coded series of (step, loss) points.
    public struct Panel: Sendable {
        public var title: String
        public var train: [(step: Int, loss: Double)]
        public var validation: [(step: Int, loss: Double)]
        public init(title: String, train: [(step: Int, loss: Double)], validation: [(step: Int, loss: Double)]) {
            self.title = title
            self.train = train
            self.validation = validation
        }
    }

    static let trainColour = "#3b6fb6", validationColour = "#c0392b"

    public static func svg(_ panels: [Panel], title: String) -> String {
        let columns = min(max(panels.count, 1), 4), rows = (panels.count + columns - 1) / max(columns, 1)
        let pw = 240.0, ph = 150.0, gapX = 80.0, gapY = 70.0
        let w = 40 + Double(columns) * (pw + gapX), h = 70 + Double(max(rows, 1)) * (ph + gapY)
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="white"/>
            <text x="20" y="22" font-size="14">\(ReportPlot.xml(title))</text>
            <text x="20" y="40" fill="\(trainColour)">training loss (per step)</text>
            <text x="180" y="40" fill="\(validationColour)">validation loss</text>

            """
        for (i, p) in panels.enumerated() {
            s += panel(p, x: 60 + Double(i % columns) * (pw + gapX), y: 80 + Double(i / columns) * (ph + gapY), w: pw, h: ph)
        }
        return s + "</svg>\n"
    }

    static func panel(_ p: Panel, x: Double, y: Double, w: Double, h: Double) -> String {
        let n = ReportPlot.n
        var s = "<text x=\"\(n(x))\" y=\"\(n(y - 8))\" font-size=\"12\">\(ReportPlot.xml(p.title))</text>\n"
        s += ReportPlot.axes(x: x, y: y, w: w, h: h)
        let values = (p.train + p.validation).map(\.loss).filter { $0.isFinite && $0 > 0 }
        let lastStep = max((p.train + p.validation).map(\.step).max() ?? 1, 1)
        guard let smallest = values.min(), let largest = values.max() else { return s }
        let lo = ReportPlot.log10(smallest).rounded(.down), hi = max(ReportPlot.log10(largest).rounded(.up), lo + 1)
        func px(_ step: Int) -> Double { x + Double(step) / Double(lastStep) * w }
        func py(_ v: Double) -> Double { y + h - (ReportPlot.log10(v) - lo) / (hi - lo) * h }
        func line(_ points: [(step: Int, loss: Double)], _ colour: String, width: Double) -> String {
            let shown = points.filter { $0.loss.isFinite && $0.loss > 0 }
            guard !shown.isEmpty else { return "" }
            return "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(n(width))\" points=\"" +
                shown.map { "\(n(px($0.step))),\(n(py($0.loss)))" }.joined(separator: " ") + "\"/>\n"
        }
        s += line(p.train, trainColour, width: 1)
        s += line(p.validation, validationColour, width: 2)
        var e = Int(lo)
        while Double(e) <= hi {
            s += "<text x=\"\(n(x - 6))\" y=\"\(n(py(AxisTicks.value(1, e)) + 4))\" text-anchor=\"end\">1e\(e)</text>\n"
            e += 1
        }
        s += "<text x=\"\(n(x))\" y=\"\(n(y + h + 14))\" text-anchor=\"middle\">0</text>\n"
        s += "<text x=\"\(n(x + w))\" y=\"\(n(y + h + 14))\" text-anchor=\"middle\">\(lastStep)</text>\n"
        s += "<text x=\"\(n(x + w / 2))\" y=\"\(n(y + h + 28))\" text-anchor=\"middle\">step</text>\n"
        return s
    }
}
