#if canImport(Glibc)
import Glibc
#endif

/// AdamW (Loshchilov & Hutter 2019) as PyTorch's `torch.optim.AdamW` computes it, here without weight decay:
/// m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε).
struct AdamW {
    var learningRate: Double
    let beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8
    private var m: [Double]
    private var v: [Double]
    private(set) var steps = 0

    init(count: Int, learningRate: Double) {
        self.learningRate = learningRate
        m = [Double](repeating: 0, count: count)
        v = [Double](repeating: 0, count: count)
    }

    mutating func step(_ parameters: inout [Double], gradient g: [Double]) {
        steps += 1
        let correction1 = 1 - pow(beta1, Double(steps)), correction2 = (1 - pow(beta2, Double(steps))).squareRoot()
        let stepSize = learningRate / correction1
        for i in parameters.indices {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
            parameters[i] -= stepSize * m[i] / (v[i].squareRoot() / correction2 + epsilon)
        }
    }
}

/// Scales `gradient` so that its Euclidean norm is at most `maxNorm` (as `torch.nn.utils.clip_grad_norm_`:
/// by maxNorm / (norm + 1e-6) when that is below 1); returns the norm before.
@discardableResult
func clipGlobalNorm(_ gradient: inout [Double], maxNorm: Double) -> Double {
    let norm = gradient.reduce(0) { $0 + $1 * $1 }.squareRoot()
    let factor = maxNorm / (norm + 1e-6)
    if factor < 1 { for i in gradient.indices { gradient[i] *= factor } }
    return norm
}

/// The learning rate drops tenfold when the validation loss stalls, as PyTorch's `ReduceLROnPlateau` in LoLCATs'
/// attention-transfer configs (mode min, factor 0.1, relative threshold 1e-4, min_lr 1e-5). LoLCATs evaluates
/// every 100 steps with patience 10; Recast evaluates every few steps of a short run, so its patience is 3
/// evaluations: the rate drops at the fourth evaluation in a row without a relative improvement of 1e-4.
struct PlateauSchedule {
    let factor = 0.1, threshold = 1e-4, minimum = 1e-5
    let patience: Int
    private var best = Double.infinity
    private var bad = 0

    init(patience: Int = 3) { self.patience = patience }

    /// Takes one validation loss; returns the new learning rate when it drops.
    mutating func observe(_ loss: Double, learningRate: Double) -> Double? {
        if loss < best * (1 - threshold) {
            best = loss
            bad = 0
            return nil
        }
        bad += 1
        guard bad > patience else { return nil }
        bad = 0
        let lowered = max(learningRate * factor, minimum)
        return lowered < learningRate ? lowered : nil
    }
}
