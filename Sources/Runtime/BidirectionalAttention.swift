import LinearAlgebra

extension LoadedAttention {
    /// Rows of queries per block of bidirectional attention.
    static let bidirectionalBlock = 64

    /// Bidirectional attention over a whole sequence (`block` from position 0), with the same kernels as the
    /// causal states: every token sees every other, so there is no state to carry and no recurrent mode.
    /// - softmax: every key;
    /// - linear: S and z over the whole sequence;
    /// - hybrid: softmax over the keys with |i − n| ≤ ⌊W/2⌋, linear over all others (the earlier ones by a
    ///   forward sweep over blocks, the later ones by a backward sweep), one normaliser, γ_h on the softmax;
    ///   with sinks N, the first N positions join every query's softmax terms and leave the linear sums.
    /// No T×T matrix is formed for linear and hybrid layers.
    func attendBidirectional(_ block: AttentionBlock, into out: UnsafeMutablePointer<Float>, ldo: Int) {
        let t = block.rows, d = headDim, b = Self.bidirectionalBlock
        let positions = Scratch<Int>(zero: 0), scores = Scratch<Float>(zero: 0), den = Scratch<Float>(zero: 0)
        let windowDen = Scratch<Float>(zero: 0), intra = Scratch<Float>(zero: 0), bandScratch = Scratch<Int>(zero: 0)
        let keyPositions = positions.take(t)
        for i in 0..<t { keyPositions[i] = i }
        guard let fm = featureMap else {
            guard let queries = block.queries, let keys = block.keys else { return }
            let blocks = (t + b - 1) / b
            let workers = HeadTasks.workers(heads * blocks, work: t * t * qWidth)
            let sums = den.take(workers * b), scoreBuffer = scores.take(workers * b * t)
            HeadTasks.run(heads * blocks, workers: workers) { w, task in
                let head = task / blocks, r0 = (task % blocks) * b, g = (head / groups) * d
                let all = KeySource(keys: keys + g, values: block.values + g, stride: block.ldkv, count: t)
                let c = min(b, t - r0), o = out + r0 * ldo + head * d, taskSums = sums + w * b
                AttentionKernels.softmaxTerms(q: queries + r0 * block.ldq + head * d, ldq: block.ldq, rows: c, firstPosition: r0,
                                              headDim: d, sources: [all], keyPositions: keyPositions, visibility: .all,
                                              scale: scale, scores: scoreBuffer + w * b * t, out: o, ldo: ldo, den: taskSums)
                AttentionKernels.normalize(o, ldo: ldo, rows: c, headDim: d, den: taskSums, eps: 0)
            }
            return
        }
        let m = fm.featureCount(headDim: d)
        let sums = den.take(t), windowSums = windowDen.take(b), scratch = intra.take(b * b), phis = Scratch<Float>(zero: 0)
        var s = [Float](repeating: 0, count: m * d), z = [Float](repeating: 0, count: m)
        for head in 0..<heads {
            let g = (head / groups) * d, o = out + head * d, v = block.values + g
            let pq = phis.take(2 * t * m), pk = pq + t * m
            queryFeatures(fm, head: head, block, into: pq)
            keyFeatures(fm, head: head, block, into: pk)
            s.withUnsafeMutableBufferPointer { sp in
                z.withUnsafeMutableBufferPointer { zp in
                    let sh = sp.baseAddress!, zh = zp.baseAddress!
                    func reset() { sh.update(repeating: 0, count: m * d); zh.update(repeating: 0, count: m) }
                    reset()
                    guard let w = hybridWindow, let queries = block.queries, let keys = block.keys else {
                        AttentionKernels.fold(phiK: pk, ldPhiK: m, values: v, ldv: block.ldkv, entering: t, features: m, headDim: d, s: sh, z: zh)
                        AttentionKernels.linearQuery(phiQ: pq, rows: t, features: m, headDim: d, s: sh, z: zh, out: o, ldo: ldo, den: sums)
                        AttentionKernels.normalize(o, ldo: ldo, rows: t, headDim: d, den: sums, eps: eps)
                        return
                    }
                    let half = w / 2, delay = half + 1, sinks = min(hybridSinks, t)
                    // Sinks are softmax terms for every query: their φ(k) rows leave the linear sums.
                    if sinks > 0 { pk.update(repeating: 0, count: sinks * m) }
                    // Earlier keys m ≤ n − delay: a forward sweep; the block's tokens enter the state delayed.
                    for r0 in stride(from: 0, to: t, by: b) {
                        let c = min(b, t - r0), first = max(0, r0 - delay), entering = max(0, r0 + c - delay) - first
                        AttentionKernels.linearQuery(phiQ: pq + r0 * m, rows: c, features: m, headDim: d, s: sh, z: zh,
                                                     out: o + r0 * ldo, ldo: ldo, den: sums + r0)
                        AttentionKernels.linearBlock(phiQ: pq + r0 * m, rows: c, features: m, headDim: d, phiK: pk + first * m, ldPhiK: m,
                                                     values: v + first * block.ldkv, ldv: block.ldkv, entering: entering,
                                                     mask: .lower(offset: r0 - delay - first), scratch: scratch,
                                                     out: o + r0 * ldo, ldo: ldo, den: sums + r0)
                        AttentionKernels.fold(phiK: pk + first * m, ldPhiK: m, values: v + first * block.ldkv, ldv: block.ldkv,
                                              entering: entering, features: m, headDim: d, s: sh, z: zh)
                    }
                    // Later keys m ≥ n + delay: a backward sweep.
                    reset()
                    for r0 in stride(from: 0, to: t, by: b).reversed() {
                        let c = min(b, t - r0), first = min(t, r0 + delay), entering = min(t, r0 + c + delay) - first
                        AttentionKernels.linearQuery(phiQ: pq + r0 * m, rows: c, features: m, headDim: d, s: sh, z: zh,
                                                     out: o + r0 * ldo, ldo: ldo, den: sums + r0, accumulate: true)
                        AttentionKernels.linearBlock(phiQ: pq + r0 * m, rows: c, features: m, headDim: d, phiK: pk + first * m, ldPhiK: m,
                                                     values: v + first * block.ldkv, ldv: block.ldkv, entering: entering,
                                                     mask: .upper(offset: r0 + delay - first), scratch: scratch,
                                                     out: o + r0 * ldo, ldo: ldo, den: sums + r0)
                        AttentionKernels.fold(phiK: pk + first * m, ldPhiK: m, values: v + first * block.ldkv, ldv: block.ldkv,
                                              entering: entering, features: m, headDim: d, s: sh, z: zh)
                    }
                    // γ_h times the softmax terms over the band |i − n| ≤ ⌊W/2⌋.
                    let gamma = windowGates[head], scoreBuffer = scores.take(b * min(t, b + 2 * half + sinks))
                    let bandPositions = bandScratch.take(b + 2 * half + sinks)
                    for r0 in stride(from: 0, to: t, by: b) {
                        let c = min(b, t - r0), low = max(0, r0 - half), high = min(t, r0 + c + half), early = min(sinks, low)
                        // The sinks before the band, then the band.
                        for j in 0..<early { bandPositions[j] = j }
                        for j in low..<high { bandPositions[early + j - low] = j }
                        let first = KeySource(keys: keys + g, values: v, stride: block.ldkv, count: early)
                        let band = KeySource(keys: keys + low * block.ldkv + g, values: v + low * block.ldkv, stride: block.ldkv, count: high - low)
                        AttentionKernels.softmaxTerms(q: queries + r0 * block.ldq + head * d, ldq: block.ldq, rows: c, firstPosition: r0,
                                                      headDim: d, sources: [first, band], keyPositions: bandPositions,
                                                      visibility: .band(half: half, sinks: sinks), scale: scale, scores: scoreBuffer,
                                                      out: o + r0 * ldo, ldo: ldo, alpha: gamma, accumulate: true, den: windowSums)
                        for i in 0..<c { sums[r0 + i] += gamma * windowSums[i] }
                    }
                    AttentionKernels.normalize(o, ldo: ldo, rows: t, headDim: d, den: sums, eps: eps)
                }
            }
        }
    }
}
