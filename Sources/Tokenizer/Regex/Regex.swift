/// A regular expression in the Oniguruma syntax tokenizer files use (see `RegexParser`), compiled to a
/// small backtracking program over Unicode scalars. Matching follows Oniguruma: leftmost match, the first
/// alternative that succeeds, greedy quantifiers giving back one scalar at a time, atomic lookahead.
///
/// Matching is bounded: a search that takes more than `stepLimit` steps (a pattern that backtracks
/// catastrophically) stops with a `RegexError` instead of hanging.
public struct TokenizerRegex: Sendable {
    /// The pattern as written.
    public let pattern: String
    let program: RegexProgram

    /// Compiles a pattern; a syntax error or an unsupported construct is a `RegexError` naming the position.
    public init(_ pattern: String) throws(RegexError) {
        self.pattern = pattern
        var parser = RegexParser(pattern)
        program = try RegexProgram(try parser.parse(), pattern: pattern)
    }

    /// A regex matching `text` literally.
    public init(literal text: String) {
        pattern = text
        let node: RegexNode = .concat(text.unicodeScalars.map { .set(.scalar($0.value)) })
        // A literal has no repeats or lookarounds, so it always fits the program limits.
        program = (try? RegexProgram(node, pattern: text)) ?? RegexProgram.neverMatching(pattern: text)
    }

    /// The non-overlapping matches in `scalars`, as scalar ranges, found as Oniguruma's `find_iter` finds
    /// them: an empty match right after the previous match is skipped.
    public func matches(in scalars: [Unicode.Scalar]) throws(RegexError) -> [Range<Int>] {
        let result: Result<[Range<Int>], RegexError> = scalars.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: UInt32.self) { text in
                do throws(RegexError) { return .success(try program.matches(in: text)) } catch { return .failure(error) }
            }
        }
        return try result.get()
    }

    /// The matches in a string, as scalar ranges.
    public func matches(in text: String) throws(RegexError) -> [Range<Int>] {
        try matches(in: Array(text.unicodeScalars))
    }
}

/// One instruction of a compiled regex.
struct RegexInstruction: Sendable {
    enum Op: UInt8, Sendable {
        /// Consume one scalar of set `a`.
        case set
        /// Consume the scalar `a`.
        case scalar
        /// Try `a` first, then `b`; `c` is the set a match through `a` must start with, or -1.
        case split
        /// Continue at `a`.
        case jump
        /// Greedily consume between `b` and `c` (-1: unbounded) scalars of set `a`, giving back one at a time.
        case repeatSet
        /// Run the sub-program at `a` here; continue when it matches (`b` = 0) or does not (`b` = 1).
        case lookahead
        /// Check the assertion with raw value `a`.
        case assert
        case match
    }
    var op: Op
    var a: Int32 = 0
    var b: Int32 = 0
    var c: Int32 = 0
}

/// A compiled regex: instructions, the sets they test, and the set a match must start with.
final class RegexProgram: Sendable {
    let pattern: String
    let instructions: [RegexInstruction]
    let sets: [ScalarSet]
    /// Every match starts with one of these scalars (nil: no such promise, or the pattern can match nothing).
    let startSet: ScalarSet?

    /// Steps a single search may take before it is abandoned as catastrophic backtracking.
    static let stepLimit = 50_000_000
    static let maxInstructions = 200_000

    init(instructions: [RegexInstruction], sets: [ScalarSet], startSet: ScalarSet?, pattern: String) {
        self.instructions = instructions
        self.sets = sets
        self.startSet = startSet
        self.pattern = pattern
    }

    static func neverMatching(pattern: String) -> RegexProgram {
        RegexProgram(instructions: [RegexInstruction(op: .set, a: 0), RegexInstruction(op: .match)],
                     sets: [ScalarSet()], startSet: nil, pattern: pattern)
    }

    convenience init(_ node: RegexNode, pattern: String) throws(RegexError) {
        var compiler = RegexCompiler(pattern: pattern)
        try compiler.emit(node)
        compiler.add(RegexInstruction(op: .match))
        try compiler.emitLookaheads()
        let start = node.isNullable ? nil : node.firstSet
        self.init(instructions: compiler.code, sets: compiler.sets, startSet: start, pattern: pattern)
    }

    /// A backtracking entry: resume at `pc` from `pos`; for a greedy repeat, `pos` is the current end and
    /// `low` the shortest end still allowed.
    struct Frame {
        var pc: Int32
        var isRepeat: Bool
        var pos: Int
        var low: Int
    }

    func matches(in text: UnsafeBufferPointer<UInt32>) throws(RegexError) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var stack: [Frame] = []
        stack.reserveCapacity(64)
        let n = text.count
        var at = 0
        var lastMatchEnd: Int? = nil
        var budget = Self.stepLimit
        let result: Result<Void, RegexError> = instructions.withUnsafeBufferPointer { code in
            sets.withUnsafeBufferPointer { sets in
                do throws(RegexError) {
                    while at <= n {
                        guard let (start, end) = try search(from: at, text: text, code: code, sets: sets, stack: &stack, budget: &budget) else { break }
                        if start == end && lastMatchEnd == end {
                            at = start + 1
                            continue
                        }
                        out.append(start..<end)
                        lastMatchEnd = end
                        at = end > start ? end : start + 1
                        budget = Self.stepLimit
                    }
                    return .success(())
                } catch { return .failure(error) }
            }
        }
        try result.get()
        return out
    }

    /// The leftmost match starting at or after `from`.
    private func search(from: Int, text: UnsafeBufferPointer<UInt32>, code: UnsafeBufferPointer<RegexInstruction>,
                        sets: UnsafeBufferPointer<ScalarSet>, stack: inout [Frame], budget: inout Int) throws(RegexError) -> (Int, Int)? {
        var start = from
        let n = text.count
        while start <= n {
            if let startSet {
                while start < n && !startSet.contains(text[start]) { start += 1 }
                if start == n { return nil }
            }
            if let end = try run(pc: 0, at: start, text: text, code: code, sets: sets, stack: &stack, budget: &budget) {
                return (start, end)
            }
            start += 1
        }
        return nil
    }

    /// Runs the program from `pc` at `pos`; the end of the first successful path, or nil.
    private func run(pc startPC: Int, at startPos: Int, text: UnsafeBufferPointer<UInt32>, code: UnsafeBufferPointer<RegexInstruction>,
                     sets: UnsafeBufferPointer<ScalarSet>, stack: inout [Frame], budget: inout Int) throws(RegexError) -> Int? {
        let base = stack.count
        defer { stack.removeSubrange(base...) }
        let n = text.count
        var pc = startPC, pos = startPos
        while true {
            budget -= 1
            if budget < 0 {
                throw RegexError(pattern: pattern, position: nil,
                                 message: "matching took more than \(Self.stepLimit) steps at text position \(startPos) (catastrophic backtracking); the pattern is not usable")
            }
            let inst = code[pc]
            var ok = true
            switch inst.op {
            case .scalar:
                if pos < n && text[pos] == UInt32(bitPattern: inst.a) {
                    pos += 1
                    pc += 1
                } else { ok = false }
            case .set:
                if pos < n && sets[Int(inst.a)].contains(text[pos]) {
                    pos += 1
                    pc += 1
                } else { ok = false }
            case .split:
                if inst.c >= 0 && (pos >= n || !sets[Int(inst.c)].contains(text[pos])) {
                    pc = Int(inst.b)
                } else {
                    stack.append(Frame(pc: inst.b, isRepeat: false, pos: pos, low: 0))
                    pc = Int(inst.a)
                }
            case .jump:
                pc = Int(inst.a)
            case .repeatSet:
                let set = sets[Int(inst.a)]
                let limit = inst.c < 0 ? n : min(n, pos + Int(inst.c))
                var k = pos
                while k < limit && set.contains(text[k]) { k += 1 }
                let low = pos + Int(inst.b)
                if k < low {
                    ok = false
                } else {
                    if k > low { stack.append(Frame(pc: Int32(pc + 1), isRepeat: true, pos: k - 1, low: low)) }
                    pos = k
                    pc += 1
                }
            case .lookahead:
                let found = try run(pc: Int(inst.a), at: pos, text: text, code: code, sets: sets, stack: &stack, budget: &budget) != nil
                if found == (inst.b == 0) { pc += 1 } else { ok = false }
            case .assert:
                if check(RegexCompiler.assertions[Int(inst.a)], at: pos, text: text) { pc += 1 } else { ok = false }
            case .match:
                return pos
            }
            if !ok {
                guard stack.count > base else { return nil }
                let frame = stack[stack.count - 1]
                pc = Int(frame.pc)
                pos = frame.pos
                if frame.isRepeat && frame.pos > frame.low {
                    stack[stack.count - 1].pos -= 1
                } else {
                    stack.removeLast()
                }
            }
        }
    }

    private func check(_ assertion: RegexNode.Assertion, at pos: Int, text: UnsafeBufferPointer<UInt32>) -> Bool {
        let n = text.count
        switch assertion {
        case .lineStart: return pos == 0 || text[pos - 1] == 0x0A
        case .lineEnd: return pos == n || text[pos] == 0x0A
        case .textStart: return pos == 0
        case .textEnd: return pos == n
        case .textEndBeforeNewline: return pos == n || (pos == n - 1 && text[pos] == 0x0A)
        case .wordBoundary, .notWordBoundary:
            func isWord(_ v: UInt32) -> Bool { UnicodeClasses.word.contains(index: UnicodeClasses.categoryIndex(v)) }
            let before = pos > 0 && isWord(text[pos - 1])
            let after = pos < n && isWord(text[pos])
            return (before != after) == (assertion == .wordBoundary)
        }
    }
}

/// Turns a `RegexNode` into instructions.
struct RegexCompiler {
    let pattern: String
    var code: [RegexInstruction] = []
    var sets: [ScalarSet] = []
    /// Lookahead instructions whose sub-programs are still to be emitted.
    var pendingLookaheads: [(Int, RegexNode)] = []

    static let assertions: [RegexNode.Assertion] = [
        .lineStart, .lineEnd, .textStart, .textEnd, .textEndBeforeNewline, .wordBoundary, .notWordBoundary,
    ]

    init(pattern: String) { self.pattern = pattern }

    @discardableResult
    mutating func add(_ inst: RegexInstruction) -> Int {
        code.append(inst)
        return code.count - 1
    }

    mutating func setIndex(_ set: ScalarSet) -> Int32 {
        if let i = sets.firstIndex(of: set) { return Int32(i) }
        sets.append(set)
        return Int32(sets.count - 1)
    }

    mutating func emit(_ node: RegexNode) throws(RegexError) {
        guard code.count < RegexProgram.maxInstructions else {
            throw RegexError(pattern: pattern, position: nil, message: "the pattern compiles to more than \(RegexProgram.maxInstructions) instructions")
        }
        switch node {
        case .empty: break
        case .set(let set):
            if !set.negated, set.terms.count == 1, case .range(let lo, let hi) = set.terms[0], lo == hi {
                add(RegexInstruction(op: .scalar, a: Int32(bitPattern: lo)))
            } else {
                add(RegexInstruction(op: .set, a: setIndex(set)))
            }
        case .concat(let items):
            for item in items { try emit(item) }
        case .alternation(let branches):
            var jumps: [Int] = []
            for (k, branch) in branches.enumerated() {
                if k == branches.count - 1 {
                    try emit(branch)
                } else {
                    let guardSet = branch.isNullable ? nil : branch.firstSet
                    let split = add(RegexInstruction(op: .split, a: 0, b: 0, c: guardSet.map { setIndex($0) } ?? -1))
                    code[split].a = Int32(code.count)
                    try emit(branch)
                    jumps.append(add(RegexInstruction(op: .jump)))
                    code[split].b = Int32(code.count)
                }
            }
            for j in jumps { code[j].a = Int32(code.count) }
        case .repetition(let body, let min, let max, let greedy):
            if greedy, case .set(let set) = body {
                add(RegexInstruction(op: .repeatSet, a: setIndex(set), b: Int32(min), c: Int32(max ?? -1)))
                return
            }
            for _ in 0..<min { try emit(body) }
            if let max {
                var exits: [Int] = []
                for _ in min..<max {
                    let split = add(RegexInstruction(op: .split, c: -1))
                    exits.append(split)
                    let bodyStart = code.count
                    try emit(body)
                    if greedy { code[split].a = Int32(bodyStart) } else { code[split].b = Int32(bodyStart) }
                }
                for s in exits {
                    if greedy { code[s].b = Int32(code.count) } else { code[s].a = Int32(code.count) }
                }
            } else {
                let split = add(RegexInstruction(op: .split, c: -1))
                try emit(body)
                add(RegexInstruction(op: .jump, a: Int32(split)))
                if greedy {
                    code[split].a = Int32(split + 1)
                    code[split].b = Int32(code.count)
                } else {
                    code[split].a = Int32(code.count)
                    code[split].b = Int32(split + 1)
                }
            }
        case .lookahead(let body, let negative):
            let at = add(RegexInstruction(op: .lookahead, a: 0, b: negative ? 1 : 0))
            pendingLookaheads.append((at, body))
        case .assertion(let a):
            add(RegexInstruction(op: .assert, a: Int32(Self.assertions.firstIndex(of: a) ?? 0)))
        }
    }

    /// Emits the sub-program of every lookahead after the main program, each ending in `match`.
    mutating func emitLookaheads() throws(RegexError) {
        while let (at, body) = pendingLookaheads.popLast() {
            code[at].a = Int32(code.count)
            try emit(body)
            add(RegexInstruction(op: .match))
        }
    }
}
