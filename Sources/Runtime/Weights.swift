#if canImport(Glibc)
import Glibc
#endif
import ModelGraph
import RecastCore
import LinearAlgebra

/// y = x Wᵀ + b with W stored `[out, in]` in f32.
struct Linear {
    var weight: [Float]
    var bias: [Float]?
    var inFeatures: Int
    var outFeatures: Int

    static let empty = Linear(weight: [], bias: nil, inFeatures: 0, outFeatures: 0)

    /// The output buffer of `rows` rows before the product: the bias in every row, which the product is
    /// accumulated onto (beta 1: no separate pass to add it). Without a bias a product of several rows
    /// overwrites every element (beta 0, which BLAS defines as not reading C): no zeroing pass.
    func start(_ buffer: UnsafeMutableBufferPointer<Float>, rows: Int) {
        let n = outFeatures
        if let bias {
            bias.withUnsafeBufferPointer { b in
                for r in 0..<rows { (buffer.baseAddress! + r * n).initialize(from: b.baseAddress!, count: n) }
            }
        } else if rows == 1 {
            buffer.initialize(repeating: 0)
        }
    }

    /// `apply` of several projections of the same input (q, k and v; gate and up) as one parallel region
    /// (`BLAS.products(sharing:)`); with one thread, the same bits as one by one.
    static func apply(_ linears: [Linear], to x: Matrix) -> [Matrix] {
        let rows = x.rows
        guard let k = linears.first?.inFeatures, linears.allSatisfy({ $0.inFeatures == k }) else { return linears.map { $0.apply(x) } }
        /// Creates the output of linears[i] and, inside its initialiser (so that every buffer stays in place),
        /// those after it; the last one runs the products.
        func outputs(from i: Int, _ products: [BLAS.WeightProduct], input: UnsafePointer<Float>) -> [[Float]] {
            guard i < linears.count else {
                BLAS.products(sharing: input, m: rows, k: k, lda: k, products)
                return []
            }
            let l = linears[i]
            var rest: [[Float]] = []
            let data = [Float](unsafeUninitializedCapacity: rows * l.outFeatures) { buffer, count in
                l.start(buffer, rows: rows)
                l.weight.withUnsafeBufferPointer { w in
                    let product = BLAS.WeightProduct(b: w.baseAddress!, n: l.outFeatures, c: buffer.baseAddress!, beta: l.bias == nil ? 0 : 1)
                    rest = outputs(from: i + 1, products + [product], input: input)
                }
                count = rows * l.outFeatures
            }
            return [data] + rest
        }
        let data = x.data.withUnsafeBufferPointer { a in outputs(from: 0, [], input: a.baseAddress!) }
        return zip(linears, data).map { Matrix(rows: rows, cols: $0.outFeatures, data: $1) }
    }

    func apply(_ x: Matrix) -> Matrix {
        let rows = x.rows, n = outFeatures
        let start = [Float](unsafeUninitializedCapacity: rows * n) { buffer, count in
            self.start(buffer, rows: rows)
            count = rows * n
        }
        var y = Matrix(rows: rows, cols: n, data: start)
        let beta: Float = bias == nil ? 0 : 1
        x.data.withUnsafeBufferPointer { a in
            weight.withUnsafeBufferPointer { w in
                y.data.withUnsafeMutableBufferPointer { c in
                    if rows == 1 {
                        // One token (recurrent decoding): a matrix–vector product streams the weight once.
                        BLAS.gemv(rows: n, cols: inFeatures, a: w.baseAddress!, lda: inFeatures, transpose: false,
                                  x: a.baseAddress!, y: c.baseAddress!, beta: beta)
                    } else {
                        BLAS.gemm(m: rows, n: n, k: inFeatures, a: a.baseAddress!, lda: inFeatures,
                                  b: w.baseAddress!, ldb: inFeatures, transposeB: true, c: c.baseAddress!, ldc: n, beta: beta)
                    }
                }
            }
        }
        return y
    }
}

/// Weights that several models loaded in one process hold once: `verify` runs an original and its conversion,
/// whose unswapped tensors are the same. The first model to load a projection or tensor leaves it here; a later
/// model takes the same array (copy-on-write, never written) when its tensors of the same names hold the same
/// stored bytes, and loads its own otherwise.
public final class SharedWeights {
    var source: TensorStore?
    var linears: [Projection: Linear] = [:]
    var tensors: [TensorRef: [Float]] = [:]

    public init() {}

    /// Whether `store` holds the same bytes under `names` as the store that loaded the shared arrays.
    func sameBytes(_ names: [String], in store: TensorStore) throws -> Bool {
        guard let source else { return false }
        if source === store { return true }
        for name in names {
            guard let a = source.info(named: name), let b = store.info(named: name), a.dtype == b.dtype, a.shape == b.shape,
                  a.byteCount == b.byteCount else { return false }
            let same = try source.withBytes(of: name) { x in
                try store.withBytes(of: name) { y in x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) }
            }
            if !same { return false }
        }
        return true
    }
}

/// Loads graph tensors from the store as f32 in their canonical layout; each store tensor is read once.
final class WeightLoader {
    let store: TensorStore
    let shared: SharedWeights?
    private var cache: [String: [Float]] = [:]

    init(store: TensorStore, sharing shared: SharedWeights? = nil) {
        self.store = store
        self.shared = shared
        if let shared, shared.source == nil { shared.source = store }
    }

    /// The tensor in canonical layout, cached so fused weights are read once.
    func values(_ ref: TensorRef) throws -> [Float] {
        if let v = cache[ref.name] { return v }
        let v = try ref.loadCanonical(from: store)
        cache[ref.name] = v
        return v
    }

    /// A tensor the model keeps (embeddings, norms, feature maps): shared with another model where it can be.
    func kept(_ ref: TensorRef) throws -> [Float] {
        if let shared, let v = shared.tensors[ref], try shared.sameBytes([ref.name], in: store) { return v }
        let v = try values(ref)
        if let shared, shared.source === store { shared.tensors[ref] = v }
        return v
    }

    /// Drops cached tensors used only while building (fused weights are sliced into projections).
    func clear() { cache.removeAll() }

    func linear(_ p: Projection) throws -> Linear {
        if let shared, let l = shared.linears[p], try shared.sameBytes([p.weight.name] + (p.bias.map { [$0.name] } ?? []), in: store) {
            return l
        }
        let (w, bias) = p.matrix(fullWeight: try values(p.weight), fullBias: try p.bias.map(values))
        let l = Linear(weight: w, bias: bias, inFeatures: p.inFeatures, outFeatures: p.outFeatures)
        if let shared, shared.source === store { shared.linears[p] = l }
        return l
    }

    func norm(_ n: Norm) throws -> LoadedNorm {
        LoadedNorm(kind: n.kind, weight: try kept(n.weight), bias: try n.bias.map(kept), eps: n.eps)
    }
}

struct LoadedNorm {
    var kind: NormKind
    var weight: [Float]
    var bias: [Float]?
    var eps: Double

    func apply(_ x: inout Matrix) { Kernels.normalize(&x, kind: kind, weight: weight, bias: bias, eps: eps) }
}
