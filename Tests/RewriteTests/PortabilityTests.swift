import Testing
import TestSupport
import RecastCore
import Checkpoint
import ModelGraph
@testable import Rewrite

/// The seeded initialisation recomputed by a separate Python program (Python floats are IEEE doubles
/// with correctly rounded + − × ÷ √, like Swift's): the same bytes come out, which is what "the same seed
/// gives byte-identical files on any machine" rests on.
@Suite struct PortabilityTests {
    static let script = #"""
        import math, struct, sys
        M = (1 << 64) - 1
        def mix(z):
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
            return z ^ (z >> 31)
        def fnv(s):
            h = 0xCBF29CE484222325
            for b in s.encode():
                h = ((h ^ b) * 0x100000001B3) & M
            return h
        def rotl(x, k): return ((x << k) | (x >> (64 - k))) & M
        class Stream:
            def __init__(self, seed, purpose, layer, head):
                k = mix((seed + 0x9E3779B97F4A7C15) & M)
                k = mix(k ^ fnv(purpose))
                k = mix(k ^ ((layer + 0x6A09E667F3BCC909) & M))
                k = mix(k ^ ((head + 0xBB67AE8584CAA73B) & M))
                s = []
                for _ in range(4):
                    k = (k + 0x9E3779B97F4A7C15) & M
                    s.append(mix(k))
                self.s, self.spare = s, None
            def word(self):
                s = self.s
                r = (rotl((s[1] * 5) & M, 7) * 9) & M
                t = (s[1] << 17) & M
                s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45)
                return r
            def uniform(self): return float(self.word() >> 11) * 2.0 ** -53
            def gaussian(self):
                if self.spare is not None:
                    v, self.spare = self.spare, None
                    return v
                u1 = 1 - self.uniform(); u2 = self.uniform()
                r = math.sqrt(-2 * plog(u1))
                sn, cs = sincos(u2)
                self.spare = r * sn
                return r * cs
        def plog(x):
            m, e = math.frexp(x)          # x = m 2^e, m in [0.5, 1): exact
            m, e = m * 2, e - 1           # [1, 2)
            if m > 1.4142135623730951:
                m, e = m / 2, e + 1
            s = (m - 1) / (m + 1); s2 = s * s
            p = 1.0 / 27
            for n in range(12, -1, -1): p = p * s2 + 1.0 / (2 * n + 1)
            return 2 * s * p + float(e) * 0.6931471805599453
        FACT = [1.0]
        for n in range(1, 22): FACT.append(FACT[-1] * n)
        def sincos(t):
            sc = t * 4; q = int(sc); r = sc - q; swap = False
            if r > 0.5: r, swap = 1 - r, True
            a = r * (3.141592653589793 / 2); a2 = a * a
            ss = cc = 0.0
            for n in range(10, -1, -1):
                ss = ss * a2; cc = cc * a2
                sg = 1.0 if n % 2 == 0 else -1.0
                ss += sg / FACT[2 * n + 1]; cc += sg / FACT[2 * n]
            s, c = a * ss, cc
            if swap: s, c = c, s
            return [(s, c), (c, -s), (-s, -c), (-c, s)][q & 3]
        def mgs_t(g, n):
            q = [0.0] * (n * n)
            for r in range(n):
                for c in range(n): q[c * n + r] = g[r * n + c]
            for j in range(n):
                for _ in range(2):
                    for i in range(j):
                        dot = 0.0
                        for t in range(n): dot += q[i * n + t] * q[j * n + t]
                        for t in range(n): q[j * n + t] -= dot * q[i * n + t]
                nrm = 0.0
                for t in range(n): nrm += q[j * n + t] * q[j * n + t]
                nrm = math.sqrt(nrm)
                for t in range(n): q[j * n + t] /= nrm
            return q
        def f32hex(values): return struct.pack("<%df" % len(values), *values).hex()
        seed, layer, head, k, d = 42, 1, 2, 16, 8
        bound = 1 / math.sqrt(d)
        ws = Stream(seed, "t2r/shared/weight", layer, head)
        w = [-bound + (bound - -bound) * ws.uniform() for _ in range(k * d)]
        bs = Stream(seed, "t2r/shared/bias", layer, head)
        b = [-bound + (bound - -bound) * bs.uniform() for _ in range(k)]
        ps = Stream(seed, "performer/projection", layer, head)
        rows = []
        for _ in range((k + d - 1) // d):
            rows += mgs_t([ps.gaussian() for _ in range(d * d)], d)
        proj = rows[: k * d]
        for i in range(k):
            s = 0.0
            for _ in range(d):
                z = ps.gaussian(); s += z * z
            sc = math.sqrt(s)
            for j in range(d): proj[i * d + j] *= sc
        print(f32hex(w)); print(f32hex(b)); print(f32hex(proj))
        """#

    @Test func pythonReproducesTheBytes() throws {
        let r = try python(["-c", Self.script])
        try #require(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 3)
        let model = try Model(path: fixture("gpt2"))
        let g = try model.graph()
        func hex(_ t: OutputTensor, head: Int, perHead: Int) throws -> String {
            let bytes = try produced(t)
            return SHA256.hexString(Array(bytes[(head * perHead * 4)..<((head + 1) * perHead * 4)]))
        }
        let t2r = try Swap.newTensors(graph: g, store: model.store, options: options(.t2r) { $0.seed = 42; $0.featureDim = 16 })
        #expect(t2r[2].info.name == "h.1.attn.feature_map.weight")
        #expect(try hex(t2r[2], head: 2, perHead: 16 * 8) == lines[0])
        #expect(try hex(t2r[3], head: 2, perHead: 16) == lines[1])
        let performer = try Swap.newTensors(graph: g, store: model.store, options: options(.performer) { $0.seed = 42; $0.featureDim = 16 })
        #expect(performer[1].info.name == "h.1.attn.feature_map.projection")
        #expect(try hex(performer[1], head: 2, perHead: 16 * 8) == lines[2])
    }
}
