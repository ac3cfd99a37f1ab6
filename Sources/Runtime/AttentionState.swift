#if canImport(Glibc)
import Glibc
#endif
import LinearAlgebra

/// A block of consecutive tokens of one sequence, as one attention layer sees it: positions
/// `firstPosition ..< firstPosition + rows`.
struct AttentionBlock {
    var rows: Int
    var firstPosition: Int
    /// q `[rows, qWidth]` and k `[rows, kvWidth]` after rotary (row strides `ldq`, `ldkv`); nil for a folded map
    /// without a window, which never forms them.
    var queries: UnsafePointer<Float>?
    var keys: UnsafePointer<Float>?
    var values: UnsafePointer<Float>
    var ldq: Int
    var ldkv: Int
    /// The attention input `[rows, hidden]`, which a folded map reads in place of q and k.
    var input: UnsafePointer<Float>
    var ldInput: Int
}

/// The state of one attention layer between blocks of a causal sequence, one type per attention kind: softmax
/// (a growing KV cache, or a ring of W tokens with a sliding window), linear (S, z), and the window hybrid.
///
/// `attend` runs a block of tokens given the state, writes the attention output of every head (before the
/// output projection, `[rows, heads·d]`) and, when `updating`, takes the block into the state. Both modes run
/// it: recurrent mode one token at a time, parallel mode over blocks of a sequence; there is no second
/// implementation.
protocol AttentionState: AnyObject {
    func attend(_ block: AttentionBlock, into out: UnsafeMutablePointer<Float>, ldo: Int, updating: Bool)
    /// Bytes of keys and values held (grows with the context up to a window).
    var kvCacheBytes: Int { get }
    /// Bytes of the linear (S, z) state (the same at every length).
    var linearStateBytes: Int { get }
    /// Fills the state as if `length` tokens had passed, with values from `next` (benchmarks).
    func simulate(length: Int, next: () -> Float)
}

extension LoadedAttention {
    /// A fresh state for this layer's attention kind.
    func makeState() -> any AttentionState {
        if let fm = featureMap {
            if let w = hybridWindow { return HybridState(self, featureMap: fm, window: w) }
            return LinearState(self, featureMap: fm)
        }
        return SoftmaxState(self, window: window)
    }

    /// Rows per block in parallel mode. Softmax layers take 128 queries at a time over the keys so far (scores
    /// `[128, T]` per head: the causal half of T×T is mostly skipped); linear and hybrid layers take chunks of
    /// 64 and never form a T×T matrix.
    func parallelBlock(rows: Int) -> Int { featureMap == nil ? Self.softmaxBlock : Transformer.chunk }

    static let softmaxBlock = 128

    /// φ(q) of one head over the block's rows into `out`, `[rows, m]`.
    func queryFeatures(_ fm: FeatureMap, head: Int, _ block: AttentionBlock, into out: UnsafeMutablePointer<Float>) {
        if fm.isFolded || block.queries == nil {
            return fm.apply(head: head, isQuery: true, x: block.input, rows: block.rows, ldx: block.ldInput, into: out)
        }
        fm.apply(head: head, isQuery: true, x: block.queries! + head * headDim, rows: block.rows, ldx: block.ldq, into: out)
    }

    /// φ(k) of one head (from its KV group's keys) over the block's rows into `out`, `[rows, m]`.
    func keyFeatures(_ fm: FeatureMap, head: Int, _ block: AttentionBlock, into out: UnsafeMutablePointer<Float>) {
        if fm.isFolded || block.keys == nil {
            return fm.apply(head: head, isQuery: false, x: block.input, rows: block.rows, ldx: block.ldInput, into: out)
        }
        fm.apply(head: head, isQuery: false, x: block.keys! + (head / groups) * headDim, rows: block.rows, ldx: block.ldkv, into: out)
    }

    /// Threads for the heads of a block of `rows` rows with `features` features per head and `keys` softmax keys.
    func headWorkers(rows: Int, features: Int, keys: Int = 0) -> Int {
        HeadTasks.workers(heads, work: heads * rows * (features * (rows + 2 * headDim) + keys * headDim))
    }
}

/// Softmax attention of a block over the keys of a ring (the past) and of the block itself, for the softmax
/// kinds; then, when `updating`, the block joins the ring.
private func softmaxAttend(_ a: LoadedAttention, ring: inout KeyValueRing, _ block: AttentionBlock,
                           into out: UnsafeMutablePointer<Float>, ldo: Int, updating: Bool, visibility: KeyVisibility,
                           scores: Scratch<Float>, den: Scratch<Float>, positions: Scratch<Int>) {
    guard let queries = block.queries, let keys = block.keys else { return }
    let c = block.rows, d = a.headDim, held = ring.count, total = held + c
    let keyPositions = positions.take(total)
    for s in 0..<held { keyPositions[s] = ring.position(ofSlot: s) }
    for r in 0..<c { keyPositions[held + r] = block.firstPosition + r }
    let tasks = HeadTasks(heads: a.heads, rows: c), span = tasks.span
    let workers = HeadTasks.workers(tasks.count, work: c * total * a.qWidth)
    let scoreBuffer = scores.take(workers * span * total), sums = den.take(workers * span)
    ring.keys.withUnsafeBufferPointer { rk in
        ring.values.withUnsafeBufferPointer { rv in
            HeadTasks.run(tasks.count, workers: workers) { w, t in
                let head = tasks.head(t), rows = tasks.rows(t), g = (head / a.groups) * d
                guard !rows.isEmpty else { return }
                let past = KeySource(keys: (rk.baseAddress ?? keys) + g, values: (rv.baseAddress ?? keys) + g, stride: a.kvWidth, count: held)
                let now = KeySource(keys: keys + g, values: block.values + g, stride: block.ldkv, count: c)
                let o = out + rows.lowerBound * ldo + head * d, taskSums = sums + w * span
                AttentionKernels.softmaxTerms(q: queries + rows.lowerBound * block.ldq + head * d, ldq: block.ldq, rows: rows.count,
                                              firstPosition: block.firstPosition + rows.lowerBound, headDim: d, sources: [past, now],
                                              keyPositions: keyPositions, visibility: visibility, scale: a.scale,
                                              scores: scoreBuffer + w * span * total, out: o, ldo: ldo, den: taskSums)
                AttentionKernels.normalize(o, ldo: ldo, rows: rows.count, headDim: d, den: taskSums, eps: 0)
            }
        }
    }
    if updating { ring.append(rows: c, keys: keys, values: block.values, stride: block.ldkv) }
}

/// Softmax attention. Without a window, over every earlier token: a KV cache that grows by one token's keys
/// and values per step. With a window W (Mistral's `sliding_window`: a query at n sees n − W < m ≤ n), over the
/// last W tokens: a ring of W keys and values.
final class SoftmaxState: AttentionState {
    let attention: LoadedAttention
    let window: Int?
    var ring: KeyValueRing
    let scores = Scratch<Float>(zero: 0), den = Scratch<Float>(zero: 0), positions = Scratch<Int>(zero: 0)

    init(_ a: LoadedAttention, window: Int?) {
        attention = a
        self.window = window
        ring = KeyValueRing(width: a.kvWidth, capacity: window)
    }

    func attend(_ block: AttentionBlock, into out: UnsafeMutablePointer<Float>, ldo: Int, updating: Bool) {
        softmaxAttend(attention, ring: &ring, block, into: out, ldo: ldo, updating: updating, visibility: .causal(window: window),
                      scores: scores, den: den, positions: positions)
    }

    var kvCacheBytes: Int { ring.bytes }
    var linearStateBytes: Int { 0 }
    func simulate(length: Int, next: () -> Float) { ring.simulate(length: length, next: next) }
}

/// Linear attention: per head S = Σ φ(k) vᵀ `[m, d]` and z = Σ φ(k) `[m]` over the tokens so far;
/// y_n = φ(q_n)ᵀ S_n / (φ(q_n)ᵀ z_n + ε). A block reads the state, adds its own causally masked terms, and
/// is folded in.
final class LinearState: AttentionState {
    let attention: LoadedAttention
    let featureMap: FeatureMap
    let features: Int
    var s: [Float]
    var z: [Float]
    let den = Scratch<Float>(zero: 0), intra = Scratch<Float>(zero: 0), phi = Scratch<Float>(zero: 0)

    init(_ a: LoadedAttention, featureMap: FeatureMap) {
        attention = a
        self.featureMap = featureMap
        features = featureMap.featureCount(headDim: a.headDim)
        s = [Float](repeating: 0, count: a.heads * features * a.headDim)
        z = [Float](repeating: 0, count: a.heads * features)
    }

    func attend(_ block: AttentionBlock, into out: UnsafeMutablePointer<Float>, ldo: Int, updating: Bool) {
        let a = attention, c = block.rows, d = a.headDim, m = features, fm = featureMap
        let workers = a.headWorkers(rows: c, features: m)
        let sums = den.take(workers * c), scratch = intra.take(workers * c * c), phis = phi.take(workers * 2 * c * m)
        s.withUnsafeMutableBufferPointer { sp in
            z.withUnsafeMutableBufferPointer { zp in
                let sBase = sp.baseAddress!, zBase = zp.baseAddress!
                HeadTasks.run(a.heads, workers: workers) { w, head in
                    let pq = phis + w * 2 * c * m, pk = pq + c * m, headSums = sums + w * c, headScratch = scratch + w * c * c
                    a.queryFeatures(fm, head: head, block, into: pq)
                    a.keyFeatures(fm, head: head, block, into: pk)
                    let sh = sBase + head * m * d, zh = zBase + head * m, o = out + head * d
                    let v = block.values + (head / a.groups) * d
                    AttentionKernels.linearQuery(phiQ: pq, rows: c, features: m, headDim: d, s: sh, z: zh, out: o, ldo: ldo, den: headSums)
                    AttentionKernels.linearBlock(phiQ: pq, rows: c, features: m, headDim: d, phiK: pk, ldPhiK: m, values: v, ldv: block.ldkv,
                                                 entering: c, mask: .lower(offset: 0), scratch: headScratch, out: o, ldo: ldo, den: headSums)
                    AttentionKernels.normalize(o, ldo: ldo, rows: c, headDim: d, den: headSums, eps: a.eps)
                    if updating {
                        AttentionKernels.fold(phiK: pk, ldPhiK: m, values: v, ldv: block.ldkv, entering: c, features: m, headDim: d, s: sh, z: zh)
                    }
                }
            }
        }
    }

    var kvCacheBytes: Int { 0 }
    var linearStateBytes: Int { 4 * (s.count + z.count) }
    func simulate(length: Int, next: () -> Float) {
        for j in s.indices { s[j] = next() }
        for j in z.indices { z[j] = Float(length) * (1 + abs(next())) }
    }
}

/// The sliding-window hybrid (LoLCATs): softmax over the last W tokens and linear attention over every older
/// one, with one normaliser and a factor γ_h per head. At position n:
///
/// y_n = [Σ_{i=n−W+1..n} γ_h·exp(q_n·k_i·scale − c_n)·v_i + φ(q_n)ᵀ S_{n−W}] / [Σ γ_h·exp(…) + φ(q_n)ᵀ z_{n−W} + ε]
///
/// with c_n the largest logit in the window (it scales the softmax terms only) and S, z summed over the tokens
/// at or before n − W. The state is a ring of the last W keys and values (after rotary) with their φ(k), plus
/// (S, z): a token leaving the window is folded into S and z.
///
/// With attention sinks (`linear_attention.sinks` N), the first N positions count as inside every later
/// query's window: their softmax terms (and logits, for c_n) join the window's, and they never enter S and z.
/// Their keys and values are kept apart once they leave the ring.
final class HybridState: AttentionState {
    let attention: LoadedAttention
    let featureMap: FeatureMap
    let features: Int
    let window: Int
    let sinks: Int
    var ring: KeyValueRing
    /// The keys and values of the first `sinks` positions (slot = position).
    var sinkKeys: KeyValueRing
    var s: [Float]
    var z: [Float]
    let scores = Scratch<Float>(zero: 0), den = Scratch<Float>(zero: 0), windowDen = Scratch<Float>(zero: 0)
    let intra = Scratch<Float>(zero: 0), positions = Scratch<Int>(zero: 0)
    let blockFeatures = Scratch<Float>(zero: 0), leavingFeatures = Scratch<Float>(zero: 0), leavingValues = Scratch<Float>(zero: 0)
    let phi = Scratch<Float>(zero: 0)

    init(_ a: LoadedAttention, featureMap: FeatureMap, window: Int) {
        attention = a
        self.featureMap = featureMap
        self.window = window
        sinks = a.hybridSinks
        features = featureMap.featureCount(headDim: a.headDim)
        ring = KeyValueRing(width: a.kvWidth, featureWidth: a.heads * features, capacity: window)
        sinkKeys = KeyValueRing(width: a.kvWidth, capacity: nil)
        s = [Float](repeating: 0, count: a.heads * features * a.headDim)
        z = [Float](repeating: 0, count: a.heads * features)
    }

    func attend(_ block: AttentionBlock, into out: UnsafeMutablePointer<Float>, ldo: Int, updating: Bool) {
        guard let queries = block.queries, let keys = block.keys else { return }
        let a = attention, c = block.rows, d = a.headDim, m = features, fw = a.heads * m, w = window, p0 = block.firstPosition
        // φ(k) of the block, every head side by side `[rows, heads·m]`, as the ring keeps it.
        // The sinks that have left the ring come first among the keys (the others are in the ring or the block).
        let fm = featureMap, held = ring.count, parked = min(sinkKeys.count, max(0, p0 - held)), total = parked + held + c
        let workers = a.headWorkers(rows: c, features: m, keys: total)
        let blockPhiK = blockFeatures.take(c * fw), phis = phi.take(workers * c * m)
        HeadTasks.run(a.heads, workers: workers) { worker, head in
            let pk = phis + worker * c * m
            a.keyFeatures(fm, head: head, block, into: pk)
            for r in 0..<c { (blockPhiK + r * fw + head * m).update(from: pk + r * m, count: m) }
        }
        // The tokens that leave the window during this block (positions first ..< first + leaving), from the ring
        // or the block; sinks never leave.
        let first = max(sinks, p0 - w), leaving = max(0, p0 + c - w - first)
        let leavingPhiK = leavingFeatures.take(max(leaving, 1) * fw), leavingV = leavingValues.take(max(leaving, 1) * a.kvWidth)
        ring.features.withUnsafeBufferPointer { rf in
            ring.values.withUnsafeBufferPointer { rv in
                for j in 0..<leaving {
                    let position = first + j
                    if position < p0 {
                        let slot = ring.slot(of: position)
                        (leavingPhiK + j * fw).update(from: rf.baseAddress! + slot * fw, count: fw)
                        (leavingV + j * a.kvWidth).update(from: rv.baseAddress! + slot * a.kvWidth, count: a.kvWidth)
                    } else {
                        (leavingPhiK + j * fw).update(from: blockPhiK + (position - p0) * fw, count: fw)
                        (leavingV + j * a.kvWidth).update(from: block.values + (position - p0) * block.ldkv, count: a.kvWidth)
                    }
                }
            }
        }
        let keyPositions = positions.take(total)
        for j in 0..<parked { keyPositions[j] = j }
        for slot in 0..<held { keyPositions[parked + slot] = ring.position(ofSlot: slot) }
        for r in 0..<c { keyPositions[parked + held + r] = p0 + r }
        let scoreBuffer = scores.take(workers * c * total), sums = den.take(workers * c), windowSums = windowDen.take(workers * c)
        let scratch = intra.take(workers * c * max(leaving, 1))
        s.withUnsafeMutableBufferPointer { sp in
            z.withUnsafeMutableBufferPointer { zp in
                withHeldKeys { rk, rv, sk, sv in
                    let sBase = sp.baseAddress!, zBase = zp.baseAddress!
                    HeadTasks.run(a.heads, workers: workers) { worker, head in
                        let g = (head / a.groups) * d, gamma = a.windowGates[head]
                        let sh = sBase + head * m * d, zh = zBase + head * m, o = out + head * d
                        let headSums = sums + worker * c, headWindowSums = windowSums + worker * c, pq = phis + worker * c * m
                        a.queryFeatures(fm, head: head, block, into: pq)
                        // φ(q)ᵀ S_{n−W}: the state, plus the leaving tokens each query already sees as linear.
                        AttentionKernels.linearQuery(phiQ: pq, rows: c, features: m, headDim: d, s: sh, z: zh, out: o, ldo: ldo, den: headSums)
                        AttentionKernels.linearBlock(phiQ: pq, rows: c, features: m, headDim: d, phiK: leavingPhiK + head * m, ldPhiK: fw,
                                                     values: leavingV + g, ldv: a.kvWidth, entering: leaving,
                                                     mask: .lower(offset: p0 - w - first), scratch: scratch + worker * c * max(leaving, 1),
                                                     out: o, ldo: ldo, den: headSums)
                        // γ_h times the softmax terms of the window.
                        let past = KeySource(keys: (rk ?? keys) + g, values: (rv ?? keys) + g, stride: a.kvWidth, count: held)
                        let now = KeySource(keys: keys + g, values: block.values + g, stride: block.ldkv, count: c)
                        let early = KeySource(keys: (sk ?? keys) + g, values: (sv ?? keys) + g, stride: a.kvWidth, count: parked)
                        AttentionKernels.softmaxTerms(q: queries + head * d, ldq: block.ldq, rows: c, firstPosition: p0, headDim: d,
                                                      sources: [early, past, now], keyPositions: keyPositions,
                                                      visibility: .causal(window: window, sinks: sinks),
                                                      scale: a.scale, scores: scoreBuffer + worker * c * total, out: o, ldo: ldo, alpha: gamma,
                                                      accumulate: true, den: headWindowSums)
                        for i in 0..<c { headSums[i] += gamma * headWindowSums[i] }
                        AttentionKernels.normalize(o, ldo: ldo, rows: c, headDim: d, den: headSums, eps: a.eps)
                        if updating {
                            AttentionKernels.fold(phiK: leavingPhiK + head * m, ldPhiK: fw, values: leavingV + g, ldv: a.kvWidth,
                                                  entering: leaving, features: m, headDim: d, s: sh, z: zh)
                        }
                    }
                }
            }
        }
        if updating {
            let arriving = max(0, min(c, sinks - p0))
            if arriving > 0 { sinkKeys.append(rows: arriving, keys: keys, values: block.values, stride: block.ldkv) }
            ring.append(rows: c, keys: keys, values: block.values, stride: block.ldkv, features: blockPhiK, featureStride: fw)
        }
    }

    /// The ring's keys and values, then the parked sinks' (nil when empty), for the duration of `body`.
    private func withHeldKeys(_ body: (UnsafePointer<Float>?, UnsafePointer<Float>?, UnsafePointer<Float>?, UnsafePointer<Float>?) -> Void) {
        ring.keys.withUnsafeBufferPointer { rk in
            ring.values.withUnsafeBufferPointer { rv in
                sinkKeys.keys.withUnsafeBufferPointer { sk in
                    sinkKeys.values.withUnsafeBufferPointer { sv in body(rk.baseAddress, rv.baseAddress, sk.baseAddress, sv.baseAddress) }
                }
            }
        }
    }

    var kvCacheBytes: Int { ring.bytes + sinkKeys.bytes }
    var linearStateBytes: Int { 4 * (s.count + z.count) }
    func simulate(length: Int, next: () -> Float) {
        ring.simulate(length: length, next: next)
        sinkKeys.simulate(length: min(length, sinks), next: next)
        for j in s.indices { s[j] = next() }
        for j in z.indices { z[j] = Float(max(length - window, 0)) * (1 + abs(next())) }
    }
}
