/// Keys and values of past tokens of one layer (after rotary), with their key features φ(k) where the layer
/// needs them: a cache that grows with every token (`capacity` nil), or a ring of the last W tokens, where
/// position p lives in slot p mod W. Attention does not depend on the order of its key–value pairs, so the
/// ring is read in slot order with each slot's position (`position(ofSlot:)`), never reordered.
struct KeyValueRing {
    /// Floats per token: keys and values `kvHeads·d` each, features `heads·m` (0 when not kept).
    let width: Int
    let featureWidth: Int
    let capacity: Int?
    var keys: [Float] = []
    var values: [Float] = []
    var features: [Float] = []
    /// Tokens held.
    private(set) var count = 0
    /// The position after the last token held (tokens are positions end − count ..< end).
    private(set) var end = 0

    init(width: Int, featureWidth: Int = 0, capacity: Int?) {
        self.width = width
        self.featureWidth = featureWidth
        self.capacity = capacity
    }

    /// The slot of a held position.
    func slot(of position: Int) -> Int { capacity.map { position % $0 } ?? position }

    /// The position held in `slot`: slot p holds position p until the ring is full (a ring starts at position 0).
    func position(ofSlot slot: Int) -> Int {
        guard let w = capacity, count == w else { return slot }
        let start = end - w
        return start + ((slot - start) % w + w) % w
    }

    /// Appends `rows` tokens at positions `end ..< end + rows`; a full ring overwrites the oldest.
    mutating func append(rows: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, stride: Int,
                         features f: UnsafePointer<Float>? = nil, featureStride: Int = 0) {
        guard let w = capacity else {
            for r in 0..<rows {
                keys.append(contentsOf: UnsafeBufferPointer(start: k + r * stride, count: width))
                values.append(contentsOf: UnsafeBufferPointer(start: v + r * stride, count: width))
                if let f { features.append(contentsOf: UnsafeBufferPointer(start: f + r * featureStride, count: featureWidth)) }
            }
            count += rows
            end += rows
            return
        }
        // The ring grows with the tokens it holds, up to W slots: a window longer than any sequence costs what
        // the sequence costs, not W tokens up front. A long block may skip its first slots.
        let slots = min(w, end + rows)
        if keys.count < slots * width {
            keys += [Float](repeating: 0, count: slots * width - keys.count)
            values += [Float](repeating: 0, count: slots * width - values.count)
            features += [Float](repeating: 0, count: slots * featureWidth - features.count)
        }
        // Only the last W rows of a long block stay.
        for r in max(0, rows - w)..<rows {
            let s = (end + r) % w
            replace(&keys, slot: s, width: width, from: k + r * stride)
            replace(&values, slot: s, width: width, from: v + r * stride)
            if let f { replace(&features, slot: s, width: featureWidth, from: f + r * featureStride) }
        }
        end += rows
        count = min(end, w)
    }

    private func replace(_ array: inout [Float], slot: Int, width: Int, from source: UnsafePointer<Float>) {
        array.withUnsafeMutableBufferPointer { p in (p.baseAddress! + slot * width).update(from: source, count: width) }
    }

    /// Fills the ring as if `length` tokens had passed, with values from `next` (benchmarks).
    mutating func simulate(length: Int, next: () -> Float) {
        let n = min(length, capacity ?? length), slots = capacity ?? n
        keys = (0..<(slots * width)).map { _ in next() }
        values = (0..<(slots * width)).map { _ in next() }
        features = (0..<(slots * featureWidth)).map { _ in abs(next()) }
        count = n
        end = length
    }

    /// Bytes of the tokens held: keys, values and features.
    var bytes: Int { 4 * count * (2 * width + featureWidth) }
}

/// A grow-only scratch buffer, reused from call to call: one allocation for the life of its owner.
final class Scratch<Element: BitwiseCopyable> {
    private var pointer: UnsafeMutablePointer<Element>
    private var capacity = 0
    private let zero: Element

    init(zero: Element) {
        self.zero = zero
        pointer = UnsafeMutablePointer<Element>.allocate(capacity: 1)
        pointer.initialize(to: zero)
    }

    deinit { pointer.deallocate() }

    /// At least `count` elements, valid until the next call.
    func take(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            capacity = max(count, 2 * capacity)
            pointer = UnsafeMutablePointer<Element>.allocate(capacity: capacity)
            pointer.initialize(repeating: zero, count: capacity)
        }
        return pointer
    }
}
