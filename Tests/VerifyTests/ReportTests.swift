import Foundation
import Testing
import TestSupport
import RecastCore
@testable import Verify

/// The report's bar chart and the SVG's axis: values that differ look different, and ticks are round.
@Suite struct ReportTests {
    /// A real report with its per-layer errors replaced.
    func report(errors: [Double], linear: [Bool]? = nil) throws -> VerifyReport {
        var r = try Verifier.verify(original: fixture("gpt2"), converted: fixture("gpt2-t2r"), tokens: nil, length: 4, seed: 0)
        r.layers = errors.enumerated().map { LayerError(layer: $0.offset, linear: linear?[$0.offset] ?? true, relativeError: $0.element) }
        return r
    }

    /// The bar of each layer, in eighths of a cell.
    func barEighths(_ r: VerifyReport) -> [Int: Int] {
        let partial: [Character: Int] = ["▏": 1, "▎": 2, "▍": 3, "▌": 4, "▋": 5, "▊": 6, "▉": 7, "█": 8]
        var out: [Int: Int] = [:]
        for line in r.lines where line.hasPrefix("  layer ") {
            let layer = Int(line.dropFirst(8).prefix(3).trimmingCharacters(in: .whitespaces))!
            out[layer] = line.reduce(0) { $0 + (partial[$1] ?? 0) }
        }
        return out
    }

    /// Every value from about 0.98 up used to draw the same full bar of 40 cells.
    @Test func barsNearTheTopDiffer() throws {
        let errors = [0.5, 0.98, 0.99, 1.0, 1.7]
        let r = try report(errors: errors)
        let bars = barEighths(r)
        #expect(bars.count == errors.count)
        let lengths = (0..<errors.count).map { bars[$0] ?? -1 }
        #expect(lengths == lengths.sorted() && Set(lengths).count == errors.count, "each value its own bar: \(lengths)")
        // To scale: the largest fills the 40 cells, the others in proportion to within an eighth.
        #expect(lengths.last == 40 * 8)
        for (e, n) in zip(errors, lengths) {
            #expect(abs(Double(n) - e / 1.7 * 320) <= 0.5, "\(e): \(n) eighths")
        }
        // The scale is printed.
        #expect(r.lines.contains { $0.hasSuffix("(relative error; full bar = 1.7000):") }, "\(r.text)")
    }

    @Test func barsOfSmallAndOddValues() throws {
        // Small errors against a large one still show; zero, NaN and layers that kept softmax show none.
        let r = try report(errors: [1e-4, 0, .nan, 0.5, 0.3], linear: [true, true, true, true, false])
        let bars = barEighths(r)
        #expect(bars[0] == 1 && bars[1] == 0 && bars[2] == 0 && bars[3] == 320 && bars[4] == 0, "\(bars)")
        #expect(r.lines.contains { $0.contains("softmax kept") })
        // All tiny: the chart is still to scale.
        let tiny = barEighths(try report(errors: [2e-6, 1e-6]))
        #expect(tiny[0] == 320 && tiny[1] == 160, "\(tiny)")
    }

    @Test func axisTicksAreRound() {
        func check(_ largest: Double, _ values: [Double], _ labels: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            let t = AxisTicks(upTo: largest)
            #expect(t.values.count == values.count && zip(t.values, values).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) },
                    "\(largest): \(t.values)", sourceLocation: sourceLocation)
            #expect(t.values.map(t.label) == labels, "\(largest)", sourceLocation: sourceLocation)
            if largest.isFinite { #expect(t.top >= largest, sourceLocation: sourceLocation) }
        }
        check(0.2716, [0, 0.1, 0.2, 0.3], ["0", "0.1", "0.2", "0.3"])
        check(1.0, [0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"])
        check(0.98, [0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"])
        check(1.7, [0, 0.5, 1, 1.5, 2], ["0", "0.5", "1", "1.5", "2"])
        check(3e-5, [0, 1e-5, 2e-5, 3e-5], ["0", "1e-05", "2e-05", "3e-05"])
        check(1234, [0, 500, 1000, 1500], ["0", "500", "1000", "1500"])
        check(0.0042, [0, 0.002, 0.004, 0.006], ["0", "0.002", "0.004", "0.006"])
        check(0, [0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"])
        check(.nan, [0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"])
    }

    /// The SVG's error axis is labelled with the round ticks, and the largest bar reaches its top tick
    /// only when the largest value is on a tick.
    @Test func svgAxisLabelsAreRound() throws {
        let svg = ReportPlot.svg(try report(errors: [0.2716, 0.1234]))
        let labels = svg.split(separator: "\n").filter { $0.contains("text-anchor=\"end\"") && !$0.contains("B<") }.compactMap { line -> String? in
            guard let close = line.range(of: "</text>"), let open = line[..<close.lowerBound].lastIndex(of: ">") else { return nil }
            return String(line[line.index(after: open)..<close.lowerBound])
        }
        #expect(Array(labels.prefix(4)) == ["0", "0.1", "0.2", "0.3"], "\(labels)")
        #expect(svg.contains("<title>layer 0: 0.2716</title>"))
    }
}
