import Foundation

/// NFD, NFKD, NFC and NFKC with `tokenizers`' alignments. `tokenizers` normalises through the
/// `unicode-normalization-alignments` crate, which reports, per output scalar, whether it replaces an input
/// scalar, is inserted after one (the extra scalars of a decomposition), or absorbs the scalars after it
/// (a composition); `NormalizedString.transform` turns those changes into alignments. This type produces
/// the same change list: per-scalar decompositions (from Foundation), the canonical reordering of
/// combining marks, and the canonical composition algorithm, tracking the changes as the crate does.
struct UnicodeNormalization {
    enum Form: String, Sendable { case nfd = "NFD", nfkd = "NFKD", nfc = "NFC", nfkc = "NFKC" }

    let compatibility: Bool
    let composes: Bool
    private var decompositions: [UInt32: [Unicode.Scalar]] = [:]
    private var compositions: [UInt64: Unicode.Scalar?] = [:]

    init(_ form: Form) {
        compatibility = form == .nfkd || form == .nfkc
        composes = form == .nfc || form == .nfkc
    }

    /// Normalises `s` in place.
    mutating func apply(to s: inout NormalizedString) {
        // ASCII text is in every normal form already.
        if s.scalars.allSatisfy({ $0.value < 0x80 }) { return }
        var changes = decompose(s.scalars)
        if composes { changes = compose(changes) }
        s.transform(changes)
    }

    static func combiningClass(_ s: Unicode.Scalar) -> UInt8 {
        s.value < 0x300 ? 0 : s.properties.canonicalCombiningClass.rawValue
    }

    private mutating func decomposition(of s: Unicode.Scalar) -> [Unicode.Scalar] {
        if s.value < 0x80 { return [s] }
        if let known = decompositions[s.value] { return known }
        let text = String(Character(s))
        let d = Array((compatibility ? text.decomposedStringWithCompatibilityMapping : text.decomposedStringWithCanonicalMapping).unicodeScalars)
        decompositions[s.value] = d
        return d
    }

    /// Each scalar's full decomposition (the first scalar replacing it, the rest inserted), with every run
    /// of combining marks stably sorted by combining class.
    private mutating func decompose(_ scalars: [Unicode.Scalar]) -> [(Unicode.Scalar, Int)] {
        var out: [(Unicode.Scalar, Int)] = []
        var classes: [UInt8] = []
        out.reserveCapacity(scalars.count)
        classes.reserveCapacity(scalars.count)
        var pending = 0
        for s in scalars {
            for (k, d) in decomposition(of: s).enumerated() {
                let ccc = Self.combiningClass(d)
                if ccc == 0 {
                    sortMarks(&out, &classes, from: pending)
                    pending = out.count
                }
                out.append((d, k == 0 ? 0 : 1))
                classes.append(ccc)
            }
        }
        sortMarks(&out, &classes, from: pending)
        return out
    }

    /// Stable insertion sort by combining class of `out[from...]` (runs are a few marks long).
    private func sortMarks(_ out: inout [(Unicode.Scalar, Int)], _ classes: inout [UInt8], from: Int) {
        guard out.count - from > 1 else { return }
        for i in (from + 1)..<out.count {
            var j = i
            while j > from && classes[j - 1] > classes[j] {
                out.swapAt(j - 1, j)
                classes.swapAt(j - 1, j)
                j -= 1
            }
        }
    }

    /// The primary composite of two scalars, if any.
    private mutating func composite(_ a: Unicode.Scalar, _ b: Unicode.Scalar) -> Unicode.Scalar? {
        if b.value < 0x80 { return nil }
        let key = UInt64(a.value) << 32 | UInt64(b.value)
        if let known = compositions[key] { return known }
        var text = String.UnicodeScalarView()
        text.append(a)
        text.append(b)
        let composed = Array(String(text).precomposedStringWithCanonicalMapping.unicodeScalars)
        let result = composed.count == 1 ? composed[0] : nil
        compositions[key] = result
        return result
    }

    /// Canonical composition of a decomposed change list; a composite absorbs the scalar it swallows
    /// (its change drops by one).
    private mutating func compose(_ input: [(Unicode.Scalar, Int)]) -> [(Unicode.Scalar, Int)] {
        var out: [(Unicode.Scalar, Int)] = []
        out.reserveCapacity(input.count)
        var starter: (Unicode.Scalar, Int)? = nil
        var lastClass: UInt8? = nil
        var held: [(Unicode.Scalar, Int)] = []
        for (c, change) in input {
            let ccc = Self.combiningClass(c)
            guard let k = starter else {
                if ccc != 0 { out.append((c, change)) } else { starter = (c, change) }
                continue
            }
            if let last = lastClass, last >= ccc {
                // Blocked from the starter.
                if ccc == 0 {
                    out.append(k)
                    out.append(contentsOf: held)
                    held.removeAll(keepingCapacity: true)
                    starter = (c, change)
                    lastClass = nil
                } else {
                    held.append((c, change))
                    lastClass = ccc
                }
                continue
            }
            if let r = composite(k.0, c) {
                starter = (r, k.1 + change - 1)
            } else if lastClass == nil && ccc == 0 {
                out.append(k)
                starter = (c, change)
            } else {
                held.append((c, change))
                lastClass = ccc
            }
        }
        if let k = starter { out.append(k) }
        out.append(contentsOf: held)
        return out
    }
}
