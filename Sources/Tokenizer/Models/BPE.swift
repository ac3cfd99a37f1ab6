import Foundation
import RecastCore

/// Byte-pair encoding, byte-level (GPT-2 and its heirs) or SentencePiece-style with byte fallback (Llama 2).
///
/// A word starts as one symbol per character (or per byte, through `<0xNN>` tokens, when the character is
/// not in the vocabulary and `byte_fallback` is on); then the adjacent pair with the lowest merge rank is
/// merged, again and again, through a priority queue over the symbols, until no pair has a merge. Results
/// are cached per word, as `tokenizers` does.
final class BPE: TokenModel, @unchecked Sendable {
    struct Merge {
        var rank: Int32
        var id: Int32
    }

    let vocabulary: Vocabulary
    /// (left id, right id) packed in 64 bits → rank and the merged id.
    let merges: [UInt64: Merge]
    let unkToken: String?
    let prefix: String?
    let suffix: String?
    let fuseUnknown: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    let file: String
    /// Ids of single-character tokens, for words without a prefix or suffix to add.
    private let characterIDs: [Unicode.Scalar: Int32]
    /// `<0xNN>` ids for byte fallback.
    private let byteIDs: [Int32?]

    /// Words up to this many characters are cached; at most `cacheCapacity` of them.
    static let cacheableLength = 256
    static let cacheCapacity = 10_000
    private var cache: [TokenKey: [ModelToken]] = [:]
    private let lock = NSLock()

    init(vocabulary: Vocabulary, merges: [(String, String)], unkToken: String? = nil, prefix: String? = nil, suffix: String? = nil,
         fuseUnknown: Bool = false, byteFallback: Bool = false, ignoreMerges: Bool = false, file: String) throws {
        self.vocabulary = vocabulary
        self.unkToken = unkToken
        self.prefix = prefix
        self.suffix = suffix
        self.fuseUnknown = fuseUnknown
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        self.file = file
        var table: [UInt64: Merge] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            func id(_ t: String) throws -> Int {
                guard let id = vocabulary.id(of: t) else {
                    throw TokenizerError(file: file, "model BPE: merge \(rank) ('\(a)' '\(b)') needs '\(t)', which is not in the vocabulary")
                }
                return id
            }
            var right = b
            if let prefix, !prefix.isEmpty, right.hasBytePrefix(prefix) { right = right.droppingBytes(prefix.utf8.count) }
            let merged = try id(a + right)
            table[UInt64(try id(a)) << 32 | UInt64(try id(b))] = Merge(rank: Int32(rank), id: Int32(merged))
        }
        self.merges = table
        var characterIDs: [Unicode.Scalar: Int32] = [:]
        for (token, id) in vocabulary.ids {
            var it = token.string.unicodeScalars.makeIterator()
            if let first = it.next(), it.next() == nil { characterIDs[first] = Int32(id) }
        }
        self.characterIDs = characterIDs
        let hex = Array("0123456789ABCDEF")
        byteIDs = (0..<256).map { b in vocabulary.id(of: "<0x\(hex[b >> 4])\(hex[b & 15])>").map { Int32($0) } }
    }

    convenience init(_ json: JSONView, file: String) throws {
        let component = "model BPE"
        let r = ComponentReader(json: json, file: file, component: component)
        if let dropout = json["dropout"], !dropout.isNull {
            guard let p = dropout.doubleValue, p >= 0, p <= 1 else { throw r.fail("'dropout' is not a number between 0 and 1") }
            if p > 0 {
                throw r.fail("'dropout' is \(p): BPE dropout samples merges at random, so its tokens are not reproducible; Recast needs dropout null")
            }
        }
        let vocabulary = try Vocabulary(object: json["vocab"], file: file, component: component)
        var merges: [(String, String)] = []
        let list = try r.array("merges")
        merges.reserveCapacity(list.count)
        for (i, m) in list.enumerated() {
            if let s = m.stringValue {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw r.fail("merges[\(i)] '\(s)' is not two tokens separated by one space") }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let pair = m.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue {
                merges.append((a, b))
            } else {
                throw r.fail("merges[\(i)] is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        try self.init(vocabulary: vocabulary, merges: merges, unkToken: try r.string("unk_token"),
                      prefix: try r.string("continuing_subword_prefix"), suffix: try r.string("end_of_word_suffix"),
                      fuseUnknown: try r.bool("fuse_unk", default: false), byteFallback: try r.bool("byte_fallback", default: false),
                      ignoreMerges: try r.bool("ignore_merges", default: false), file: file)
    }

    func tokenize(_ piece: [Unicode.Scalar]) throws -> [ModelToken] {
        if piece.isEmpty { return [] }
        let word = makeString(piece)
        if ignoreMerges, let id = vocabulary.id(of: word) { return [ModelToken(id: id, range: 0..<piece.count)] }
        let cacheable = piece.count < BPE.cacheableLength
        if cacheable {
            lock.lock()
            let hit = cache[TokenKey(word)]
            lock.unlock()
            if let hit { return hit }
        }
        let tokens = merge(try symbols(piece))
        if cacheable {
            lock.lock()
            if cache.count < BPE.cacheCapacity { cache[TokenKey(word)] = tokens }
            lock.unlock()
        }
        return tokens
    }

    /// The word's first symbols: its characters, their bytes (byte fallback) or unknown tokens.
    private func symbols(_ piece: [Unicode.Scalar]) throws -> [ModelToken] {
        var out: [ModelToken] = []
        out.reserveCapacity(piece.count)
        var unknown: ModelToken?
        let plain = (prefix ?? "").isEmpty && (suffix ?? "").isEmpty
        for (i, c) in piece.enumerated() {
            let id: Int?
            if plain {
                id = characterIDs[c].map { Int($0) }
            } else {
                var s = String(Character(c))
                if i > 0, let prefix { s = prefix + s }
                if i == piece.count - 1, let suffix { s += suffix }
                id = vocabulary.id(of: s)
            }
            if let id {
                if let u = unknown { out.append(u); unknown = nil }
                out.append(ModelToken(id: id, range: i..<(i + 1)))
                continue
            }
            if byteFallback {
                var s = String(Character(c))
                if !plain {
                    if i > 0, let prefix { s = prefix + s }
                    if i == piece.count - 1, let suffix { s += suffix }
                }
                let bytes = s.utf8.map { byteIDs[Int($0)] }
                if bytes.allSatisfy({ $0 != nil }) {
                    // As in `tokenizers`, a pending unknown token is not flushed before the bytes.
                    for b in bytes { out.append(ModelToken(id: Int(b ?? 0), range: i..<(i + 1))) }
                    continue
                }
            }
            guard let unkToken else { continue }
            guard let unkID = vocabulary.id(of: unkToken) else {
                throw TokenizerError(file: file, "model BPE: the unknown token '\(unkToken)' is not in the vocabulary")
            }
            if var u = unknown {
                if fuseUnknown {
                    u.range = u.range.lowerBound..<(i + 1)
                    unknown = u
                    continue
                }
                out.append(u)
            }
            unknown = ModelToken(id: unkID, range: i..<(i + 1))
        }
        if let u = unknown { out.append(u) }
        return out
    }

    /// Applies merges, lowest rank first (leftmost among equals), as `tokenizers`' `Word::merge_all` does.
    private func merge(_ start: [ModelToken]) -> [ModelToken] {
        let n = start.count
        if n < 2 { return start }
        var ids = start.map { Int32($0.id) }
        let lower = start.map(\.range.lowerBound)
        var upper = start.map(\.range.upperBound)
        var prev = Array(-1..<(n - 1))
        var next = Array(1...n)
        next[n - 1] = -1
        var alive = [Bool](repeating: true, count: n)
        var queue = MergeQueue()
        for i in 0..<(n - 1) {
            if let m = merges[UInt64(UInt32(bitPattern: ids[i])) << 32 | UInt64(UInt32(bitPattern: ids[i + 1]))] {
                queue.push(MergeQueue.Entry(rank: m.rank, position: Int32(i), id: m.id))
            }
        }
        while let top = queue.pop() {
            let pos = Int(top.position)
            guard alive[pos] else { continue }
            let right = next[pos]
            guard right >= 0 else { continue }
            guard let m = merges[UInt64(UInt32(bitPattern: ids[pos])) << 32 | UInt64(UInt32(bitPattern: ids[right]))], m.id == top.id else { continue }
            ids[pos] = top.id
            upper[pos] = upper[right]
            alive[right] = false
            let after = next[right]
            next[pos] = after
            if after >= 0 { prev[after] = pos }
            let before = prev[pos]
            if before >= 0, let m = merges[UInt64(UInt32(bitPattern: ids[before])) << 32 | UInt64(UInt32(bitPattern: ids[pos]))] {
                queue.push(MergeQueue.Entry(rank: m.rank, position: Int32(before), id: m.id))
            }
            if after >= 0, let m = merges[UInt64(UInt32(bitPattern: ids[pos])) << 32 | UInt64(UInt32(bitPattern: ids[after]))] {
                queue.push(MergeQueue.Entry(rank: m.rank, position: Int32(pos), id: m.id))
            }
        }
        var out: [ModelToken] = []
        var i = 0
        while i >= 0 {
            out.append(ModelToken(id: Int(ids[i]), range: lower[i]..<upper[i]))
            i = next[i]
        }
        return out
    }
}

/// A binary min-heap of candidate merges, ordered by rank then position.
struct MergeQueue {
    struct Entry {
        var rank: Int32
        var position: Int32
        var id: Int32
        func before(_ o: Entry) -> Bool { rank != o.rank ? rank < o.rank : position < o.position }
    }
    private var heap: [Entry] = []

    mutating func push(_ e: Entry) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].before(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count, heap[l].before(heap[m]) { m = l }
                if r < heap.count, heap[r].before(heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
