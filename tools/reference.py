#!/usr/bin/env python3
"""Independent NumPy reference forward pass (the correctness oracle).

Written from the published Hugging Face model definitions
(transformers' modeling_gpt2 / modeling_bert / modeling_llama / modeling_qwen2)
and NOT from the Swift code. Everything is computed in float64; weights of any
stored dtype (F32, F16, BF16, ...) are decoded exactly and widened to float64.
Outputs are rounded to float32 only when written.

Usage
-----
  python3 tools/reference.py MODEL_DIR (--tokens 1,2,3 | --length N --seed S)
                             --out OUT.safetensors [--mode parallel|recurrent]
  python3 tools/reference.py selftest [--fixtures DIR]
  python3 tools/reference.py embed MODEL_DIR --lines F --out OUT.safetensors
                             [--max-length N] [--pooling mean|cls|max] [--normalize] [--batch-size B]
  python3 tools/reference.py perplexity MODEL_DIR --text-file F [--max-length W] [--stride S]
  python3 tools/reference.py compare ORIGINAL CONVERTED (--text-file F | --lines F) [same options]

Text commands tokenize with the model's tokenizer.json through Hugging Face `tokenizers` (its padding and
truncation settings off; --lines truncates to --max-length). `embed` writes sentence embeddings pooled
as sentence-transformers' modules.json / 1_Pooling say (else --pooling, --normalize), computed in padded
batches with attention masks. `perplexity` and `compare` print JSON shaped like `recast verify --json`'s
"text" (perplexity, next_token_accuracy, top1_agreement, mean_kl over Hugging Face's strided windows) or
"embeddings" (cosine_mean, cosine_min, neighbour_agreement) blocks.

MODEL_DIR holds config.json and one of: model.safetensors.index.json (sharded),
model.safetensors (or a single *.safetensors), tf_model.h5 (Hugging Face
TensorFlow save_weights layout; kernels are transposed to PyTorch [out, in]
exactly as transformers' TF->PT loader does).

OUT.safetensors holds (F32):
  hidden_states [T, hidden]  last layer output after the final norm (GPT-2 ln_f,
                             Llama/Qwen2 model.norm); for BERT the last encoder
                             layer output (no pooler).
  logits        [T, vocab]   only when the model has an LM head (GPT-2: tied
                             wte; Llama/Qwen2: lm_head.weight, or the embedding
                             when tie_word_embeddings is true; BERT: none).
and metadata {"tokens": "1,2,3", "mode": ..., "compute_dtype": "float64",
"family": ...}.

Token contract (--length N --seed S), which the Swift side implements too:
  SplitMix64 over the positions: for i in 0..N-1 (unsigned 64-bit, wrapping)
    z = S + (i + 1) * 0x9E3779B97F4A7C15
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    z = z ^ (z >> 31)
    tokens[i] = z mod vocab_size

Families
--------
gpt2   : wte + wpe[0..T-1]; per block x += c_proj(attn(ln_1(x))),
         x += mlp.c_proj(act(mlp.c_fc(ln_2(x)))) with Conv1D weights [in, out];
         causal softmax attention scaled by 1/sqrt(head_dim); act from
         activation_function (gelu_new = tanh approximation); ln_f at the end.
         Names with or without the "transformer." prefix.
bert   : word + position(0..T-1) + token_type(0) embeddings -> LayerNorm;
         per layer post-LN: a = LN(x + out(selfattn(x))), x = LN(a + out(gelu(inter(a))));
         bidirectional, no mask; exact erf gelu. Linear weights [out, in].
         Names with or without the "bert." prefix.
llama  : (also qwen2, mistral) RMSNorm x * 1/sqrt(mean(x^2) + eps) * w;
         rotary (rotate_half convention, inv_freq = 1/theta^(arange(0,d,2)/d),
         cos/sin = cat(freqs, freqs); rope_parameters / rope_scaling of
         type linear or llama3 rescale inv_freq: rope_inverse_frequencies); GQA: kv head j serves query heads
         j*g .. (j+1)*g-1 with g = heads / kv_heads; SiLU gated MLP
         down(silu(gate(x)) * up(x)); q/k/v/o biases used when present (qwen2).

Linear attention (config.json "linear_attention" block)
-------------------------------------------------------
  {"feature_map": "t2r"|"performer"|"elu"|"hedgehog", "feature_dim": k,
   "layers": [i, ...] (default: all layers), "eps": 1e-6 (default),
   "shared_qk": bool (default false), "folded": bool (default false)}
For every listed layer and query head h, q and k are taken exactly as they
would enter softmax attention (after projection + bias, after rotary, k and v
repeated to the query heads under GQA); with phi the head's feature map and no
1/sqrt(d) factor:
  causal        S_t = S_{t-1} + phi(k_t) v_t^T,  z_t = z_{t-1} + phi(k_t),
                y_t = phi(q_t)^T S_t / (phi(q_t)^T z_t + eps)
  bidirectional (BERT) the same with S, z summed over the whole sequence.
Tensor prefix P: "[transformer.]h.{i}.attn" (gpt2), "[bert.]encoder.layer.{i}.
attention.self" (bert), "[model.]layers.{i}.self_attn" (llama family).
  t2r       phi(x) = relu(W_h x + b_h); P.feature_map.{weight [H,k,d], bias [H,k]}
            when shared_qk, else P.feature_map_q.* and P.feature_map_k.*
  performer phi(x) = m^-1/2 exp(w_i . x' - |x'|^2 / 2), x' = d^-1/4 x,
            w = P.feature_map.projection [H, m, d] (P.feature_map_q/_k.projection
            used instead when shared_qk is false and they exist)
  elu       phi(x) = elu(x) + 1 (no tensors)
  hedgehog  phi(x) = concat(softmax(W_h x + b_h), softmax(-(W_h x + b_h)))
            (softmax over the k features, 2k features), P.feature_map_q.* and
            P.feature_map_k.* (P.feature_map.* when shared_qk and present)
  folded    (t2r, gpt2/bert only) P.feature_map_q.weight [H, k, hidden] and
            .bias [H, k] (and _k) map the layer's attention input (the hidden
            state after ln_1 for GPT-2, the layer input for BERT) straight to
            the pre-relu features: phi(q_h) = relu(W^_h x + b^_h); q and k are
            not built (so BERT query/key tensors may be absent).
  window    "window": W (optional, a positive integer): the sliding-window
            hybrid (LoLCATs). Query n of head h mixes softmax over a window
            with linear attention over every other position, one normaliser:
              y_n = [sum_win g e_i v_i + phi_q(q_n)^T S] / [sum_win g e_i + phi_q(q_n)^T z + eps]
            e_i = exp(q_n.k_i s - c_n), s the layer's softmax scale (1/sqrt(d),
            or GPT-2's variants), c_n = max over the window of q_n.k_i s (it
            scales the softmax terms only), g = sigmoid(P.window_factors [H]);
            S, z sum phi_k(k_j) v_j^T, phi_k(k_j) over the linear positions.
            Causal: window n-W < i <= n, linear j <= n-W (recurrently a buffer
            of W keys; the key leaving it is folded into S, z). Bidirectional:
            window |i-n| <= floor(W/2), linear every other position. Not defined
            for folded maps (the softmax needs q and k).
  sinks     "sinks": N (optional, only with a window): attention sinks. The
            first N positions join every query's window (causal: when at or
            before the query), so they count in c_n, and are never linear
            positions.
For tensor lookups without shared/split preference the split names are tried
first when shared_qk is false and the shared ones first when it is true, the
other spelling being accepted as a fallback.

Modes
-----
parallel  : the whole sequence at once.
recurrent : token by token: a KV cache for softmax layers, the (S, z) state for
            linear layers (causal families). For BERT (bidirectional) every
            layer is evaluated token by token in two passes: the first
            accumulates the keys/values (softmax) or (S, z) (linear) over all
            tokens, the second produces each token's output from that state.
The two agree to ~1e-12 in float64 (selftest checks <= 1e-10).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensorio import Raw, load_safetensors, load_sharded_index, save_safetensors, to_float64  # noqa: E402

MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------

def seeded_tokens(length: int, seed: int, vocab: int):
    """SplitMix64 of seed + (i+1)*golden, mod vocab (see the token contract above)."""
    out = []
    for i in range(length):
        z = (seed + (i + 1) * 0x9E3779B97F4A7C15) & MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        out.append(z % vocab)
    return out


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def tf_name_to_pt(name: str):
    """HF TF weight name -> (PyTorch name, transpose?), as transformers'
    convert_tf_weight_name_to_pt_weight_name does: drop the top model scope,
    "_._" -> ".", "/" -> ".", kernel -> weight (transposed), gamma -> weight,
    beta -> bias, embeddings -> weight."""
    n = name.replace(":0", "")
    n = n.replace("_._", "/")
    parts = n.split("/")[1:]  # drop "tf_bert_model"
    transpose = False
    last = parts[-1]
    if last == "kernel":
        parts[-1] = "weight"
        transpose = True
    elif last in ("gamma", "embeddings"):
        parts[-1] = "weight"
    elif last == "beta":
        parts[-1] = "bias"
    return ".".join(parts), transpose


def library_config(config):
    """The config with the library's model_type: a folder swapped by Recast names its type "recast_" + the library's
    ("recast_llama"), so that transformers wants its remote code; the architecture is the library's."""
    mt = config.get("model_type")
    if isinstance(mt, str) and mt.startswith("recast_"):
        return dict(config, model_type=mt[len("recast_"):])
    return config


# transformers' PreTrainedModel.base_model_prefix of each model_type's PyTorch classes.
BASE_MODEL_PREFIX = {"bert": "bert", "roberta": "roberta", "xlm-roberta": "roberta", "camembert": "roberta",
                     "gpt2": "transformer", "llama": "model", "mistral": "model", "qwen2": "model"}


def prefix_to_remove(config, scope):
    """transformers' load_tf2_state_dict_in_pytorch_model: when no key of the PyTorch model starts with
    its base_model_prefix, `base_model_prefix + "."` is removed from the converted TF names. Only the base
    class (BertModel, GPT2Model, ...) has keys without it; a class with a head (BertForMaskedLM,
    GPT2LMHeadModel) keeps it. The class is the config's architectures[0], else the TF scope's class
    (tf_bert_model = TFBertModel)."""
    if not config:
        return ""
    arch = (config.get("architectures") or [None])[0]
    if arch is not None:
        arch = arch[2:] if arch.startswith("TF") else arch
        base = arch.endswith("Model") and "For" not in arch and not arch.endswith(("HeadModel", "HeadsModel"))
    elif scope is not None:
        base = scope.endswith("_model") and "_for_" not in scope and not scope.endswith(("head_model", "heads_model"))
    else:
        base = False
    p = BASE_MODEL_PREFIX.get(config.get("model_type"))
    return p + "." if base and p else ""


def strip_prefix(weights, prefix):
    if not prefix:
        return weights
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in weights.items()}


def load_tf_h5(path: str, config=None):
    import h5py

    out = {}
    scope = None
    with h5py.File(path, "r") as f:
        layer_names = [x.decode() if isinstance(x, bytes) else str(x) for x in f.attrs["layer_names"]]
        for layer in layer_names:
            g = f[layer]
            for wn in g.attrs["weight_names"]:
                wn = wn.decode() if isinstance(wn, bytes) else str(wn)
                scope = scope or wn.split("/")[0]
                arr = np.asarray(g[wn][()], dtype=np.float64)
                pt, transpose = tf_name_to_pt(wn)
                if transpose and arr.ndim == 2:
                    arr = arr.T
                out[pt] = np.ascontiguousarray(arr)
    return strip_prefix(out, prefix_to_remove(config, scope))


def load_plain_h5(path: str):
    """Every numeric dataset of an HDF5 file (as Recast writes them), named by its path."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiub":
                out[name] = np.asarray(obj[()], dtype=np.float64)
        f.visititems(visit)
    return out


def tf_dataset_names_to_pt(weights, config=None):
    """Tensors stored under Hugging Face TF dataset paths (`bert/tf_bert_model/.../kernel:0`, kept as they
    were by a format conversion) renamed and transposed to PyTorch's names and layouts."""
    if not any(":" in k and "/" in k for k in weights):
        return weights
    out = {}
    scope = None
    for k, v in weights.items():
        if ":" in k and "/" in k:
            parts = k.split("/")
            scope = scope or (parts[1] if len(parts) > 2 else None)
            pt, transpose = tf_name_to_pt(k.split("/", 1)[1])  # drop the Keras layer group
            out[pt] = np.ascontiguousarray(v.T) if transpose and v.ndim == 2 else v
        else:
            out[k] = v
    prefix = prefix_to_remove(config, scope)
    # only the converted TF names lose the prefix; tensors added under PyTorch names keep theirs
    return {(k[len(prefix):] if prefix and ":" in orig and k.startswith(prefix) else k): v
            for orig, (k, v) in zip(weights, out.items())}


def load_weights(model_dir: str):
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    single = os.path.join(model_dir, "model.safetensors")
    tf = os.path.join(model_dir, "tf_model.h5")
    plain_h5 = os.path.join(model_dir, "model.h5")
    config = None
    if os.path.exists(os.path.join(model_dir, "config.json")):
        with open(os.path.join(model_dir, "config.json")) as f:
            config = library_config(json.load(f))
    if os.path.exists(idx):
        raw, _ = load_sharded_index(idx)
    elif os.path.exists(single):
        raw, _ = load_safetensors(single)
    elif os.path.exists(tf):
        return load_tf_h5(tf, config)
    elif os.path.exists(plain_h5):
        return tf_dataset_names_to_pt(load_plain_h5(plain_h5), config)
    else:
        files = sorted(p for p in os.listdir(model_dir) if p.endswith(".safetensors"))
        if len(files) != 1:
            raise SystemExit(f"{model_dir}: no model.safetensors, index.json, tf_model.h5 or model.h5")
        raw, _ = load_safetensors(os.path.join(model_dir, files[0]))
    return tf_dataset_names_to_pt({k: to_float64(r.code, r.shape, r.data) for k, r in raw.items()}, config)


# ---------------------------------------------------------------------------
# Elementary functions (float64)
# ---------------------------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1.0 + np.exp(-x))


ACTS = {
    "gelu": gelu_erf,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "gelu_fast": gelu_tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "silu": silu,
    "swish": silu,
}


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------------------
# Feature maps
# ---------------------------------------------------------------------------

class FeatureMap:
    """phi for one layer: maps per-head vectors [H, T, d] to [H, T, F].

    For folded layers the input is the hidden state [T, hidden] instead."""

    def __init__(self, kind, params, d, folded=False):
        self.kind = kind
        self.params = params  # role -> dict
        self.d = d
        self.folded = folded

    def __call__(self, role, x):
        p = self.params.get(role)
        if self.folded:
            pre = np.einsum("hkc,tc->htk", p["weight"], x) + p["bias"][:, None, :]
            return np.maximum(pre, 0.0)
        if self.kind == "t2r":
            pre = np.einsum("hkd,htd->htk", p["weight"], x) + p["bias"][:, None, :]
            return np.maximum(pre, 0.0)
        if self.kind == "elu":
            return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))
        if self.kind == "performer":
            w = p["projection"]  # [H, m, d]
            m = w.shape[1]
            xs = x * self.d ** -0.25
            proj = np.einsum("hmd,htd->htm", w, xs)
            sq = 0.5 * (xs * xs).sum(-1, keepdims=True)
            return m ** -0.5 * np.exp(proj - sq)
        if self.kind == "hedgehog":
            pre = np.einsum("hkd,htd->htk", p["weight"], x) + p["bias"][:, None, :]
            return np.concatenate([softmax(pre, -1), softmax(-pre, -1)], axis=-1)
        raise ValueError(self.kind)


def build_feature_map(lin, weights, P, n_heads, d, hidden, layer):
    kind = lin.get("feature_map")
    shared = bool(lin.get("shared_qk", False))
    folded = bool(lin.get("folded", False))
    if kind not in ("t2r", "performer", "elu", "hedgehog"):
        raise SystemExit(f"config.json linear_attention.feature_map: unknown {kind!r}")
    if kind == "elu":
        return FeatureMap(kind, {}, d)
    pnames = {"t2r": ["weight", "bias"], "hedgehog": ["weight", "bias"], "performer": ["projection"]}[kind]
    if folded:
        if kind != "t2r":
            raise SystemExit("linear_attention.folded is only defined for t2r")
        shared = False
    params = {}
    for role in ("q", "k"):
        candidates = [f"{P}.feature_map", f"{P}.feature_map_{role}"]
        if not shared:
            candidates.reverse()
        if folded:
            candidates = [f"{P}.feature_map_{role}"]
        base = next((c for c in candidates if f"{c}.{pnames[0]}" in weights), None)
        if base is None:
            raise SystemExit(f"layer {layer}: missing feature-map tensor {candidates[0]}.{pnames[0]}")
        params[role] = {}
        for pn in pnames:
            name = f"{base}.{pn}"
            if name not in weights:
                raise SystemExit(f"layer {layer}: missing feature-map tensor {name}")
            params[role][pn] = weights[name]
        w = params[role][pnames[0]]
        expect_in = hidden if folded else d
        if w.ndim != 3 or w.shape[0] != n_heads or w.shape[2] != expect_in:
            raise SystemExit(f"{base}.{pnames[0]}: shape {list(w.shape)}, expected [{n_heads}, k, {expect_in}]")
    return FeatureMap(kind, params, d, folded)


# ---------------------------------------------------------------------------
# Rotary scaling (transformers' rope_parameters / rope_scaling)
# ---------------------------------------------------------------------------

# The rotary types the reference computes, each with the keys it requires (besides rope_type).
ROPE_TYPES = {
    "default": (),
    "linear": ("factor",),
    "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"),
}


def rope_inverse_frequencies(theta, d, scaling=None):
    """The rotation angle per position of each pair i < d/2, from the published definitions:
    default  inv_freq_i = theta^(-2i/d)
    linear   inv_freq_i / factor (positions divided by factor: Position Interpolation, Chen et al. 2023)
    llama3   Llama 3.1's frequency-dependent interpolation (Meta's reference apply_scaling): with
             wavelength l_i = 2 pi / inv_freq_i, L = original_max_position_embeddings,
             l_i < L / high_freq_factor: unchanged; l_i > L / low_freq_factor: inv_freq_i / factor;
             in between s = (L / l_i - low_freq_factor) / (high_freq_factor - low_freq_factor) and
             (1 - s) inv_freq_i / factor + s inv_freq_i."""
    inv = 1.0 / theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
    kind = (scaling or {}).get("rope_type", "default")
    if kind == "default":
        return inv
    factor = float(scaling["factor"])
    if kind == "linear":
        return inv / factor
    low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
    original = float(scaling["original_max_position_embeddings"])
    wavelength = 2 * math.pi / inv
    smooth = (original / wavelength - low) / (high - low)
    band = (1 - smooth) * inv / factor + smooth * inv
    return np.where(wavelength < original / high, inv, np.where(wavelength > original / low, inv / factor, band))


# ---------------------------------------------------------------------------
# The sliding-window hybrid (LoLCATs): softmax over a window, linear attention beyond it
# ---------------------------------------------------------------------------
#
# For query n with window positions Wn and linear positions Ln (issue 12):
#   y_n = [sum_{i in Wn} g_h exp(q_n.k_i s - c_n) v_i + phi_q(q_n)^T sum_{j in Ln} phi_k(k_j) v_j^T]
#       / [sum_{i in Wn} g_h exp(q_n.k_i s - c_n)     + phi_q(q_n)^T sum_{j in Ln} phi_k(k_j)      + eps]
# c_n = max_{i in Wn} q_n.k_i s scales the softmax terms only (part of the function, not a stabiliser);
# g_h = sigmoid(window_factors[h]); s is the layer's softmax scale. Causal: Wn = n-W < i <= n,
# Ln = j <= n-W. Bidirectional: Wn = |i - n| <= floor(W/2), Ln = every other position.
# With N attention sinks, the positions i < N join Wn (causal: those i <= n) and leave Ln.

def hybrid_masks(T, window, causal, sinks=0):
    """([T, T] window positions, [T, T] linear positions) of each query (row)."""
    a = np.arange(T)[:, None]
    b = np.arange(T)[None, :]
    sink = b < sinks
    if causal:
        return (b <= a) & ((b > a - window) | sink), (b <= a - window) & ~sink
    near = (np.abs(b - a) <= window // 2) | sink
    return near, ~near


def hybrid_attention_parallel(q, k, v, fq, fk, gamma, window, causal, scale, eps, keys=None, sinks=0):
    """All queries at once: q, k, v [H, T, d], fq, fk [H, T, F], gamma [H]; keys [T] (bool) marks
    the real (unpadded) keys; sinks: the first positions always in the window. Returns [H, T, d]."""
    T = q.shape[1]
    near, far = hybrid_masks(T, window, causal, sinks)
    if keys is not None:
        near = near & keys[None, :]
        far = far & keys[None, :]
    s = np.einsum("htd,hsd->hts", q, k) * scale
    c = np.where(near[None], s, -np.inf).max(-1, keepdims=True)
    c = np.where(np.isfinite(c), c, 0.0)  # a query with no window key (a padded row) has no softmax term
    soft = gamma[:, None, None] * np.where(near[None], np.exp(np.where(near[None], s - c, 0.0)), 0.0)
    lin = np.einsum("htf,hsf->hts", fq, fk) * far[None]
    weights = soft + lin
    return (weights @ v) / (weights.sum(-1, keepdims=True) + eps)


def hybrid_query(q, fq, K, V, S, z, gamma, scale, eps):
    """One query q [H, d] (phi_q(q) = fq [H, F]) against window keys/values K, V [H, w, d] and the
    linear state S [H, F, d], z [H, F]. Returns [H, d]."""
    s = np.einsum("hd,hsd->hs", q, K) * scale
    e = gamma[:, None] * np.exp(s - s.max(-1, keepdims=True))
    num = np.einsum("hs,hsd->hd", e, V) + np.einsum("hf,hfd->hd", fq, S)
    den = e.sum(-1) + np.einsum("hf,hf->h", fq, z) + eps
    return num / den[:, None]


class HybridCausalState:
    """Recurrent state of a causal hybrid layer: a buffer of the last W (k, v, phi_k(k)) and (S, z)
    over every older position. The token leaving the window is folded into S and z, unless it is one of
    the first `sinks` positions, which stay beside the window for good."""

    def __init__(self, gamma, window, scale, eps, sinks=0):
        self.gamma, self.window, self.scale, self.eps, self.sinks = gamma, window, scale, eps, sinks
        self.ring = []
        self.kept = []  # the sinks that have left the window
        self.seen = 0
        self.S = self.z = None

    def step(self, q, k, v, fq, fk):
        if self.S is None:
            self.S = np.zeros((fk.shape[0], fk.shape[1], v.shape[1]))
            self.z = np.zeros(fk.shape)
        self.ring.append((k, v, fk))
        self.seen += 1
        if len(self.ring) > self.window:  # position t - W leaves the window
            old = self.ring.pop(0)
            if self.seen - 1 - self.window < self.sinks:
                self.kept.append(old)
            else:
                self.S = self.S + old[2][:, :, None] * old[1][:, None, :]
                self.z = self.z + old[2]
        K = np.stack([r[0] for r in self.kept + self.ring], axis=1)
        V = np.stack([r[1] for r in self.kept + self.ring], axis=1)
        return hybrid_query(q, fq, K, V, self.S, self.z, self.gamma, self.scale, self.eps)


def hybrid_bidirectional_recurrent(proj, gamma, window, scale, eps, sinks=0):
    """A bidirectional hybrid layer token by token: proj[t] = (q, k, v, phi_q, phi_k) of position t, each
    [H, *]. The linear part of query t is a prefix state (positions < t - W/2) plus a suffix state
    (positions > t + W/2), accumulated in one pass forward and one backward; the first `sinks` positions
    are never in them, and always among the window's keys. Returns [T] of [H, d]."""
    T = len(proj)
    half = window // 2
    H, F = proj[0][4].shape
    d = proj[0][2].shape[1]
    zero = (np.zeros((H, F, d)), np.zeros((H, F)))
    linear = [(v, fk * (t >= sinks)) for t, (_, _, v, _, fk) in enumerate(proj)]
    prefix = [zero]  # prefix[m]: over positions < m
    for v, fk in linear:
        S, z = prefix[-1]
        prefix.append((S + fk[:, :, None] * v[:, None, :], z + fk))
    suffix = [zero]  # suffix[T - m]: over positions >= m
    for v, fk in reversed(linear):
        S, z = suffix[-1]
        suffix.append((S + fk[:, :, None] * v[:, None, :], z + fk))
    out = []
    for t, (q, _, _, fq, _) in enumerate(proj):
        lo, hi = max(t - half, 0), min(t + half + 1, T)
        S = prefix[lo][0] + suffix[T - hi][0]
        z = prefix[lo][1] + suffix[T - hi][1]
        near = list(range(min(sinks, lo))) + list(range(lo, hi))
        K = np.stack([proj[j][1] for j in near], axis=1)
        V = np.stack([proj[j][2] for j in near], axis=1)
        out.append(hybrid_query(q, fq, K, V, S, z, gamma, scale, eps))
    return out


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

def sliding_windows(config, model_type, layers):
    """Per-layer sliding window (None = full causal attention), as transformers' configs define it:
    MistralConfig: `sliding_window` (default 4096; null = none) on every layer.
    Qwen2Config: only when `use_sliding_window`; then `layer_types` if given, else "sliding_attention"
    for layers i >= `max_window_layers` (default 28); `sliding_window` defaults to 4096 there too.
    LlamaConfig has no sliding window."""
    if model_type == "mistral":
        if config.get("layer_types") is not None:
            raise SystemExit("mistral: layer_types is not supported by the reference")
        w = config.get("sliding_window", 4096)
        return [w] * layers
    if model_type == "qwen2" and config.get("use_sliding_window", False):
        w = config.get("sliding_window", 4096)
        if w is None:
            return [None] * layers
        types = config.get("layer_types")
        if types is not None:
            return [w if t == "sliding_attention" else None for t in types]
        first = config.get("max_window_layers", 28)
        return [w if i >= first else None for i in range(layers)]
    return [None] * layers


class Model:
    def __init__(self, model_dir, config=None, weights=None):
        self.dir = model_dir
        if config is None:
            with open(os.path.join(model_dir, "config.json")) as f:
                config = json.load(f)
        config = library_config(config)
        self.cfg = config
        self.w = weights if weights is not None else load_weights(model_dir)
        mt = config.get("model_type")
        if mt == "gpt2":
            self.family = "gpt2"
            self.prefix = "transformer." if "transformer.wte.weight" in self.w else ""
            self.hidden = config["n_embd"]
            self.heads = config["n_head"]
            self.kv_heads = self.heads
            self.layers = config["n_layer"]
            self.head_dim = self.hidden // self.heads
            self.vocab = config["vocab_size"]
            self.causal = True
        elif mt == "bert":
            self.family = "bert"
            self.prefix = "bert." if "bert.embeddings.word_embeddings.weight" in self.w else ""
            self.hidden = config["hidden_size"]
            self.heads = config["num_attention_heads"]
            self.kv_heads = self.heads
            self.layers = config["num_hidden_layers"]
            self.head_dim = self.hidden // self.heads
            self.vocab = config["vocab_size"]
            self.causal = False
            pet = config.get("position_embedding_type", "absolute")
            if pet != "absolute":
                raise SystemExit(f"bert position_embedding_type {pet!r} not supported")
        elif mt in ("llama", "qwen2", "mistral"):
            self.family = "llama"
            self.prefix = "model." if "model.embed_tokens.weight" in self.w else ""
            self.hidden = config["hidden_size"]
            self.heads = config["num_attention_heads"]
            self.kv_heads = config.get("num_key_value_heads") or self.heads
            self.layers = config["num_hidden_layers"]
            self.head_dim = config.get("head_dim") or self.hidden // self.heads
            self.vocab = config["vocab_size"]
            self.causal = True
            self.theta = float(config.get("rope_theta", 10000.0))
            self.rope_scaling = None  # the rope_parameters / rope_scaling object of type linear or llama3
            for key in ("rope_parameters", "rope_scaling"):
                rp = config.get(key)
                if rp:
                    kind = rp.get("rope_type", rp.get("type", "default"))
                    if kind not in ROPE_TYPES:
                        raise SystemExit(f"{key} type {kind!r} is not supported; supported: default, "
                                         + ", ".join(t for t in ROPE_TYPES if t != "default"))
                    for name in ROPE_TYPES[kind]:
                        if not isinstance(rp.get(name), (int, float)) or not math.isfinite(rp[name]) or rp[name] <= 0:
                            raise SystemExit(f"{key}.{name}: {rp.get(name)!r}, expected a finite number > 0")
                    if kind == "llama3" and rp["high_freq_factor"] <= rp["low_freq_factor"]:
                        raise SystemExit(f"{key}: high_freq_factor must be greater than low_freq_factor")
                    if kind != "default":
                        self.rope_scaling = dict(rp, rope_type=kind)
                    self.theta = float(rp.get("rope_theta", self.theta))
            self.windows = sliding_windows(config, mt, self.layers)
            if self.heads % self.kv_heads:
                raise SystemExit("num_attention_heads must be a multiple of num_key_value_heads")
        else:
            raise SystemExit(f"config.json model_type {mt!r} not supported")
        if self.family != "llama":
            self.windows = [None] * self.layers
        self.lin = config.get("linear_attention")
        self.check_numbers()
        self.linear_layers = set()
        self.fmaps = {}
        self.window = None  # linear_attention.window: the sliding-window hybrid's W (None: pure linear)
        self.sinks = 0  # linear_attention.sinks: the hybrid's attention sinks
        self.gammas = {}  # layer -> gamma_h = sigmoid(window_factors) [H], hybrid layers only
        if self.lin:
            layers = self.lin.get("layers")
            self.linear_layers = set(range(self.layers)) if layers is None else set(int(i) for i in layers)
            self.eps = float(self.lin.get("eps", 1e-6))
            if self.lin.get("folded") and self.family == "llama":
                raise SystemExit("folded feature maps are not defined with rotary embeddings")
            self.window = self.lin.get("window")
            if self.window is not None:
                if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
                    raise SystemExit(f"config.json linear_attention.window: {self.window!r}, expected a positive integer")
            self.sinks = self.lin.get("sinks", 0)
            if isinstance(self.sinks, bool) or not isinstance(self.sinks, int) or self.sinks < ("sinks" in self.lin):
                raise SystemExit(f"config.json linear_attention.sinks: {self.sinks!r}, expected a positive integer")
            if self.sinks and (self.window is None or self.sinks > self.window):
                raise SystemExit("config.json linear_attention.sinks needs a window at least as long")
                if self.lin.get("folded"):
                    raise SystemExit("linear_attention.window is not defined for folded feature maps "
                                     "(the window's softmax needs the layer's q and k)")
            for i in sorted(self.linear_layers):
                if not 0 <= i < self.layers:
                    raise SystemExit(f"linear_attention.layers: {i} out of range")
                self.fmaps[i] = build_feature_map(self.lin, self.w, self.attn_prefix(i), self.heads,
                                                  self.head_dim, self.hidden, i)
                if self.window is not None:
                    name = f"{self.attn_prefix(i)}.window_factors"
                    g = self.w.get(name)
                    if g is None:
                        raise SystemExit(f"layer {i}: missing window tensor {name}")
                    if g.shape != (self.heads,):
                        raise SystemExit(f"{name}: shape {list(g.shape)}, expected [{self.heads}]")
                    self.gammas[i] = 1.0 / (1.0 + np.exp(-g.astype(np.float64)))  # gamma_h = sigmoid(g_h)

    # -- names -------------------------------------------------------------
    def attn_prefix(self, i):
        if self.family == "gpt2":
            return f"{self.prefix}h.{i}.attn"
        if self.family == "bert":
            return f"{self.prefix}encoder.layer.{i}.attention.self"
        return f"{self.prefix}layers.{i}.self_attn"

    def W(self, name):
        full = self.prefix + name
        if full not in self.w:
            raise SystemExit(f"{self.dir}: missing tensor {full}")
        return self.w[full]

    def opt(self, name):
        return self.w.get(self.prefix + name)

    # -- embeddings / heads ------------------------------------------------
    def embed(self, tokens, positions):
        tokens = np.asarray(tokens)
        positions = np.asarray(positions)
        if self.family == "gpt2":
            return self.W("wte.weight")[tokens] + self.W("wpe.weight")[positions]
        if self.family == "bert":
            e = (self.W("embeddings.word_embeddings.weight")[tokens]
                 + self.W("embeddings.position_embeddings.weight")[positions]
                 + self.W("embeddings.token_type_embeddings.weight")[np.zeros_like(tokens)])
            return layer_norm(e, self.W("embeddings.LayerNorm.weight"), self.W("embeddings.LayerNorm.bias"),
                              self.cfg.get("layer_norm_eps", 1e-12))
        return self.W("embed_tokens.weight")[tokens]

    def final(self, x):
        if self.family == "gpt2":
            return layer_norm(x, self.W("ln_f.weight"), self.W("ln_f.bias"), self.cfg.get("layer_norm_epsilon", 1e-5))
        if self.family == "bert":
            return x
        return rms_norm(x, self.W("norm.weight"), self.cfg.get("rms_norm_eps", 1e-6))

    def lm_head(self):
        if self.family == "gpt2":
            return self.w.get("lm_head.weight", self.W("wte.weight"))
        if self.family == "bert":
            return None
        if "lm_head.weight" in self.w:
            return self.w["lm_head.weight"]
        if self.cfg.get("tie_word_embeddings", False):
            return self.W("embed_tokens.weight")
        return None

    # -- attention pieces ----------------------------------------------------
    def attn_input(self, i, x):
        """Normalised input to the attention of layer i."""
        if self.family == "gpt2":
            return layer_norm(x, self.W(f"h.{i}.ln_1.weight"), self.W(f"h.{i}.ln_1.bias"),
                              self.cfg.get("layer_norm_epsilon", 1e-5))
        if self.family == "bert":
            return x
        return rms_norm(x, self.W(f"layers.{i}.input_layernorm.weight"), self.cfg.get("rms_norm_eps", 1e-6))

    def _heads(self, y, n):
        T = y.shape[0]
        return y.reshape(T, n, self.head_dim).transpose(1, 0, 2)  # [n, T, d]

    def rotary(self, x, positions):
        d = self.head_dim
        inv_freq = rope_inverse_frequencies(self.theta, d, self.rope_scaling)
        freqs = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
        emb = np.concatenate([freqs, freqs], axis=-1)
        cos, sin = np.cos(emb), np.sin(emb)
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        rot = np.concatenate([-x2, x1], axis=-1)
        return x * cos + rot * sin

    def project(self, i, h, positions):
        """Return (q or phi_q, k or phi_k, v) as [H, T, *] for the normalised
        attention input h [T, hidden] at the given positions."""
        return self._project(i, h, positions, self.fmaps.get(i))

    def project_hybrid(self, i, h, positions):
        """A hybrid (windowed) layer: (q, k, v, phi_q(q), phi_k(k)), q and k after rotary and the
        grouped-query repeat (never folded: refused at load)."""
        q, k, v = self._project(i, h, positions, None)
        fm = self.fmaps[i]
        return q, k, v, fm("q", q), fm("k", k)

    def _project(self, i, h, positions, fm):
        H, d, C = self.heads, self.head_dim, self.hidden
        if self.family == "gpt2":
            W = self.W(f"h.{i}.attn.c_attn.weight")
            b = self.W(f"h.{i}.attn.c_attn.bias")
            if fm is not None and fm.folded:
                v = h @ W[:, 2 * C:] + b[2 * C:]
                return fm("q", h), fm("k", h), self._heads(v, H)
            qkv = h @ W + b
            q, k, v = qkv[:, :C], qkv[:, C:2 * C], qkv[:, 2 * C:]
            q, k, v = self._heads(q, H), self._heads(k, H), self._heads(v, H)
        elif self.family == "bert":
            base = f"encoder.layer.{i}.attention.self"

            def lin(n):
                return h @ self.W(f"{base}.{n}.weight").T + self.W(f"{base}.{n}.bias")

            v = self._heads(lin("value"), H)
            if fm is not None and fm.folded:
                return fm("q", h), fm("k", h), v
            q, k = self._heads(lin("query"), H), self._heads(lin("key"), H)
        else:
            base = f"layers.{i}.self_attn"

            def lin(n):
                y = h @ self.W(f"{base}.{n}.weight").T
                bias = self.opt(f"{base}.{n}.bias")
                return y + bias if bias is not None else y

            q = self._heads(lin("q_proj"), H)
            k = self._heads(lin("k_proj"), self.kv_heads)
            v = self._heads(lin("v_proj"), self.kv_heads)
            q = self.rotary(q, positions)
            k = self.rotary(k, positions)
            g = H // self.kv_heads
            k = np.repeat(k, g, axis=0)  # kv head j -> query heads j*g..(j+1)*g-1
            v = np.repeat(v, g, axis=0)
        if fm is not None:
            return fm("q", q), fm("k", k), v
        return q, k, v

    def causal_mask(self, i, T):
        """[T, T] boolean: query position a may attend to key position b. Causal: b <= a. With a sliding
        window W, additionally b > a - W: a - W < b <= a, W keys including the query's own. This is the
        boundary of transformers, whose Mistral and Qwen2 checkpoints Recast runs:
        src/transformers/masking_utils.py, sliding_window_overlay: `kv_idx > q_idx - sliding_window`, and
        on top of it causal_mask_function: `kv_idx <= q_idx`. (The Mistral 7B paper's prose, "positions
        between i - W and i", does not settle the end point; transformers' mask does.)"""
        a = np.arange(T)[:, None]
        b = np.arange(T)[None, :]
        mask = b <= a
        W = self.windows[i]
        if W is not None:
            mask &= b > a - W
        return mask

    def attn_scale(self, i):
        s = 1.0 / math.sqrt(self.head_dim)
        if self.family == "gpt2":
            if not self.cfg.get("scale_attn_weights", True):
                s = 1.0
            if self.cfg.get("scale_attn_by_inverse_layer_idx", False):
                s /= float(i + 1)
        return s

    def attn_out(self, i, ctx):
        """ctx [H, T, d] -> output projection [T, hidden]."""
        T = ctx.shape[1]
        y = ctx.transpose(1, 0, 2).reshape(T, self.heads * self.head_dim)
        if self.family == "gpt2":
            return y @ self.W(f"h.{i}.attn.c_proj.weight") + self.W(f"h.{i}.attn.c_proj.bias")
        if self.family == "bert":
            return y @ self.W(f"encoder.layer.{i}.attention.output.dense.weight").T + \
                self.W(f"encoder.layer.{i}.attention.output.dense.bias")
        y2 = y @ self.W(f"layers.{i}.self_attn.o_proj.weight").T
        b = self.opt(f"layers.{i}.self_attn.o_proj.bias")
        return y2 + b if b is not None else y2

    # -- the rest of a layer -------------------------------------------------
    def after_attention(self, i, x, a):
        """Residual/norm/MLP given layer input x and attention output a."""
        if self.family == "gpt2":
            x = x + a
            eps = self.cfg.get("layer_norm_epsilon", 1e-5)
            h = layer_norm(x, self.W(f"h.{i}.ln_2.weight"), self.W(f"h.{i}.ln_2.bias"), eps)
            act = ACTS[self.cfg.get("activation_function", "gelu_new")]
            m = act(h @ self.W(f"h.{i}.mlp.c_fc.weight") + self.W(f"h.{i}.mlp.c_fc.bias"))
            return x + m @ self.W(f"h.{i}.mlp.c_proj.weight") + self.W(f"h.{i}.mlp.c_proj.bias")
        if self.family == "bert":
            eps = self.cfg.get("layer_norm_eps", 1e-12)
            L = f"encoder.layer.{i}"
            a1 = layer_norm(a + x, self.W(f"{L}.attention.output.LayerNorm.weight"),
                            self.W(f"{L}.attention.output.LayerNorm.bias"), eps)
            act = ACTS[self.cfg.get("hidden_act", "gelu")]
            m = act(a1 @ self.W(f"{L}.intermediate.dense.weight").T + self.W(f"{L}.intermediate.dense.bias"))
            o = m @ self.W(f"{L}.output.dense.weight").T + self.W(f"{L}.output.dense.bias")
            return layer_norm(o + a1, self.W(f"{L}.output.LayerNorm.weight"), self.W(f"{L}.output.LayerNorm.bias"), eps)
        x = x + a
        L = f"layers.{i}"
        h = rms_norm(x, self.W(f"{L}.post_attention_layernorm.weight"), self.cfg.get("rms_norm_eps", 1e-6))
        act = ACTS[self.cfg.get("hidden_act", "silu")]

        def lin(n, z):
            y = z @ self.W(f"{L}.mlp.{n}.weight").T
            b = self.opt(f"{L}.mlp.{n}.bias")
            return y + b if b is not None else y

        return x + lin("down_proj", act(lin("gate_proj", h)) * lin("up_proj", h))

    # -- full passes -----------------------------------------------------------
    def forward_parallel(self, tokens, key_mask=None):
        """The whole sequence at once. key_mask [T] (bool, default all true) marks the real tokens of a
        padded row: no query attends to a padding key (its score is -inf before the softmax, its feature
        product 0 in a linear layer), as transformers' attention_mask does. Positions are 0..T-1, so a
        right-padded row's real tokens see exactly what they would see alone."""
        T = len(tokens)
        pos = np.arange(T)
        keys = np.ones(T, dtype=bool) if key_mask is None else np.asarray(key_mask, dtype=bool)
        x = self.embed(tokens, pos)
        for i in range(self.layers):
            h = self.attn_input(i, x)
            if i in self.gammas:
                ctx = hybrid_attention_parallel(*self.project_hybrid(i, h, pos), self.gammas[i], self.window,
                                                self.causal, self.attn_scale(i), self.eps, keys, self.sinks)
                x = self.after_attention(i, x, self.attn_out(i, ctx))
                continue
            q, k, v = self.project(i, h, pos)
            allowed = np.broadcast_to(keys[None, :], (T, T))
            if self.causal:  # a swapped layer attends linearly to every earlier key: no softmax window
                allowed = allowed & (self.causal_mask(i, T) if i not in self.linear_layers else np.tri(T, dtype=bool))
            if i in self.linear_layers:
                A = np.einsum("htf,hsf->hts", q, k) * allowed[None]
                ctx = (A @ v) / (A.sum(-1, keepdims=True) + self.eps)
            else:
                s = np.einsum("htd,hsd->hts", q, k) * self.attn_scale(i)
                s = np.where(allowed[None], s, -np.inf)
                ctx = softmax(s, -1) @ v
            x = self.after_attention(i, x, self.attn_out(i, ctx))
        return self.outputs(x)

    def run_batch(self, sequences, pad_id=0):
        """Several sequences as one right-padded batch [N, T] with an attention mask [N, T] (1 = token):
        every row runs padded to the longest with its padding keys masked. Returns (hidden [N, T, C],
        logits [N, T, V] or None, mask)."""
        if not sequences or any(len(s) == 0 for s in sequences):
            raise SystemExit("run_batch: every sequence needs at least one token")
        T = max(len(s) for s in sequences)
        mask = np.zeros((len(sequences), T), dtype=bool)
        hs, logits = [], []
        for n, seq in enumerate(sequences):
            for t in seq:
                if not 0 <= t < self.vocab:
                    raise SystemExit(f"token {t} out of range for vocab_size {self.vocab}")
            mask[n, :len(seq)] = True
            h, lg = self.forward_parallel(list(seq) + [pad_id] * (T - len(seq)), mask[n])
            hs.append(h)
            logits.append(lg)
        return np.stack(hs), (None if logits[0] is None else np.stack(logits)), mask

    def forward_recurrent(self, tokens):
        if self.causal:
            return self._recurrent_causal(tokens)
        return self._recurrent_bidirectional(tokens)

    def _recurrent_causal(self, tokens):
        caches = [dict(k=[], v=[], S=None, z=None) for _ in range(self.layers)]
        hybrids = {i: HybridCausalState(self.gammas[i], self.window, self.attn_scale(i), self.eps, self.sinks)
                   for i in self.gammas}
        outs = []
        for t, tok in enumerate(tokens):
            x = self.embed([tok], [t])  # [1, C]
            for i in range(self.layers):
                h = self.attn_input(i, x)
                c = caches[i]
                if i in hybrids:
                    q, k, v, fq, fk = (a[:, 0, :] for a in self.project_hybrid(i, h, [t]))
                    ctx = hybrids[i].step(q, k, v, fq, fk)[:, None, :]
                    x = self.after_attention(i, x, self.attn_out(i, ctx))
                    continue
                q, k, v = self.project(i, h, [t])  # [H, 1, *]
                if i in self.linear_layers:
                    kt, vt, qt = k[:, 0, :], v[:, 0, :], q[:, 0, :]
                    if c["S"] is None:
                        c["S"] = np.zeros((self.heads, kt.shape[1], vt.shape[1]))
                        c["z"] = np.zeros((self.heads, kt.shape[1]))
                    c["S"] = c["S"] + kt[:, :, None] * vt[:, None, :]
                    c["z"] = c["z"] + kt
                    num = np.einsum("hf,hfd->hd", qt, c["S"])
                    den = np.einsum("hf,hf->h", qt, c["z"])[:, None] + self.eps
                    ctx = (num / den)[:, None, :]
                else:
                    c["k"].append(k[:, 0, :])
                    c["v"].append(v[:, 0, :])
                    W = self.windows[i]
                    if W is not None and len(c["k"]) > W:  # the key at t - W has left the window
                        c["k"].pop(0)
                        c["v"].pop(0)
                    K = np.stack(c["k"], axis=1)
                    V = np.stack(c["v"], axis=1)
                    s = np.einsum("hd,hsd->hs", q[:, 0, :], K) * self.attn_scale(i)
                    ctx = np.einsum("hs,hsd->hd", softmax(s, -1), V)[:, None, :]
                x = self.after_attention(i, x, self.attn_out(i, ctx))
            outs.append(x[0])
        return self.outputs(np.stack(outs))

    def _recurrent_bidirectional(self, tokens):
        T = len(tokens)
        xs = [self.embed([tok], [t]) for t, tok in enumerate(tokens)]
        for i in range(self.layers):
            if i in self.gammas:
                proj = [[a[:, 0, :] for a in self.project_hybrid(i, self.attn_input(i, xs[t]), [t])]
                        for t in range(T)]
                ctxs = hybrid_bidirectional_recurrent(proj, self.gammas[i], self.window, self.attn_scale(i), self.eps,
                                                      self.sinks)
                xs = [self.after_attention(i, xs[t], self.attn_out(i, ctxs[t][:, None, :])) for t in range(T)]
                continue
            proj = [self.project(i, self.attn_input(i, xs[t]), [t]) for t in range(T)]
            new = []
            if i in self.linear_layers:
                S = z = None
                for (_, k, v) in proj:  # pass 1: accumulate state
                    kt, vt = k[:, 0, :], v[:, 0, :]
                    if S is None:
                        S = np.zeros((self.heads, kt.shape[1], vt.shape[1]))
                        z = np.zeros((self.heads, kt.shape[1]))
                    S = S + kt[:, :, None] * vt[:, None, :]
                    z = z + kt
                for t, (q, _, _) in enumerate(proj):  # pass 2: outputs
                    qt = q[:, 0, :]
                    ctx = (np.einsum("hf,hfd->hd", qt, S) / (np.einsum("hf,hf->h", qt, z)[:, None] + self.eps))
                    new.append(self.after_attention(i, xs[t], self.attn_out(i, ctx[:, None, :])))
            else:
                K = np.stack([p[1][:, 0, :] for p in proj], axis=1)
                V = np.stack([p[2][:, 0, :] for p in proj], axis=1)
                for t, (q, _, _) in enumerate(proj):
                    s = np.einsum("hd,hsd->hs", q[:, 0, :], K) * self.attn_scale(i)
                    ctx = np.einsum("hs,hsd->hd", softmax(s, -1), V)
                    new.append(self.after_attention(i, xs[t], self.attn_out(i, ctx[:, None, :])))
            xs = new
        return self.outputs(np.concatenate(xs, axis=0))

    def outputs(self, x):
        hs = self.final(x)
        head = self.lm_head()
        logits = hs @ head.T if head is not None else None
        return hs, logits

    def run(self, tokens, mode="parallel"):
        for t in tokens:
            if not 0 <= t < self.vocab:
                raise SystemExit(f"token {t} out of range for vocab_size {self.vocab}")
        limit = self.cfg.get("n_positions") or self.cfg.get("max_position_embeddings")
        if self.family != "llama" and limit is not None and len(tokens) > limit:
            raise SystemExit(f"{len(tokens)} tokens exceed the {limit} learned positions")
        if mode == "parallel":
            hs, logits = self.forward_parallel(list(tokens))
        elif mode == "recurrent":
            hs, logits = self.forward_recurrent(list(tokens))
        else:
            raise SystemExit(f"unknown mode {mode}")
        if not np.all(np.isfinite(hs)) or (logits is not None and not np.all(np.isfinite(logits))):
            raise SystemExit("the outputs hold NaN or infinity")
        return hs, logits

    def check_numbers(self):
        """The numbers the computation uses, in the ranges where it means something (as Recast checks them)."""
        def need(key, ok, what, cfg=None):
            v = (self.cfg if cfg is None else cfg).get(key)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and ok(v)):
                raise SystemExit(f"config.json: {key} = {v!r}, expected {what}")
        for key in ("layer_norm_epsilon", "layer_norm_eps", "rms_norm_eps"):
            need(key, lambda v: 0 < v < 1, "a finite number > 0 and < 1")
        need("rope_theta", lambda v: v > 0, "a finite number > 0")
        if self.lin:
            need("eps", lambda v: v > 0, "a finite number > 0", self.lin)


def fold_t2r(model):
    """Folded T2R tensors for every linear layer of an unfolded t2r model
    (gpt2/bert): W^_h = W_phi,h W_{r,h}, b^_h = W_phi,h b_{r,h} + b_phi,h for
    r in (q, k), where W_{r,h} [d, hidden] maps the attention input to head
    h's q (or k). Returns {P.feature_map_{q,k}.{weight [H,k,hidden], bias [H,k]}}
    in float64."""
    if model.family not in ("gpt2", "bert") or not model.lin or model.lin.get("feature_map") != "t2r" \
            or model.lin.get("folded"):
        raise ValueError("fold_t2r needs an unfolded t2r gpt2/bert model")
    H, d, C = model.heads, model.head_dim, model.hidden
    out = {}
    for i in sorted(model.linear_layers):
        P = model.attn_prefix(i)
        for r_idx, role in enumerate(("q", "k")):
            if model.family == "gpt2":
                Wc = model.W(f"h.{i}.attn.c_attn.weight")[:, r_idx * C:(r_idx + 1) * C]  # [C, C] in->out
                bc = model.W(f"h.{i}.attn.c_attn.bias")[r_idx * C:(r_idx + 1) * C]
                Wr = Wc.T  # [out, in]
            else:
                n = "query" if role == "q" else "key"
                Wr = model.W(f"encoder.layer.{i}.attention.self.{n}.weight")
                bc = model.W(f"encoder.layer.{i}.attention.self.{n}.bias")
            Wr = Wr.reshape(H, d, C)
            br = bc.reshape(H, d)
            fp = model.fmaps[i].params[role]
            out[f"{P}.feature_map_{role}.weight"] = np.einsum("hkd,hdc->hkc", fp["weight"], Wr)
            out[f"{P}.feature_map_{role}.bias"] = np.einsum("hkd,hd->hk", fp["weight"], br) + fp["bias"]
    return out


# ---------------------------------------------------------------------------
# Text: tokenization, sentence embeddings, perplexity and the two-model metrics
# ---------------------------------------------------------------------------

def tokenizer_of(model_dir, special_tokens=True):
    """The model's tokenizer.json through Hugging Face `tokenizers`, with the file's own padding and
    truncation settings switched off (they apply only where a user asks). Returns encode(text) -> ids."""
    from tokenizers import Tokenizer

    path = os.path.join(model_dir, "tokenizer.json")
    if not os.path.exists(path):
        raise SystemExit(f"{model_dir}: no tokenizer.json")
    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.no_truncation()
    return lambda text: tok.encode(text, add_special_tokens=special_tokens).ids


def default_max_length(model):
    """The model's learned positions, capped at 1024 (the window of --text-file and --lines)."""
    limit = model.cfg.get("n_positions") or model.cfg.get("max_position_embeddings") or 1024
    return min(int(limit), 1024)


def read_lines(path):
    """The non-blank lines of a file, without their line ends."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f if line.strip()]


def line_sequences(model_dir, path, max_length):
    """One id sequence per non-blank line, truncated to max_length tokens as Hugging Face truncation does
    (the text is cut, the post-processor's special tokens stay)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length)
    return [tok.encode(line).ids for line in read_lines(path)]


def pooling_of(model_dir, pooling=None, normalize=None):
    """(mode, normalize) as sentence-transformers would apply them: modules.json lists a Pooling module
    (its folder's config.json: "pooling_mode": "mean" as sentence-transformers 5 and later write it, or the earlier
    flags pooling_mode_cls_token / _mean_tokens / _max_tokens) and, optionally, a Normalize module. Without those
    files: the given pooling (default mean) and normalize (default no)."""
    modules_path = os.path.join(model_dir, "modules.json")
    if os.path.exists(modules_path):
        with open(modules_path) as f:
            modules = json.load(f)
        mode, norm = None, False
        for m in modules:
            kind = m.get("type", "").rsplit(".", 1)[-1]
            if kind == "Pooling":
                with open(os.path.join(model_dir, m.get("path", ""), "config.json")) as f:
                    pc = json.load(f)
                named = pc.get("pooling_mode")
                if named is not None:
                    modes = [named] if isinstance(named, str) else list(named)
                else:
                    modes = [name for key, name in (("pooling_mode_cls_token", "cls"), ("pooling_mode_mean_tokens", "mean"),
                                                    ("pooling_mode_max_tokens", "max")) if pc.get(key)]
                if len(modes) != 1:
                    raise SystemExit(f"{model_dir}: the reference supports exactly one pooling mode, got {modes}")
                mode = modes[0]
            elif kind == "Normalize":
                norm = True
        if mode is not None:
            return mode, norm
    return pooling or "mean", bool(normalize)


def pool(hidden, mask, mode, normalize):
    """Sentence embeddings [N, C] from hidden states [N, T, C] and the attention mask [N, T], as
    sentence-transformers' Pooling: mean = sum of the real tokens' vectors / their count; cls = the first
    token's vector; max = the element-wise maximum over the real tokens. Normalize divides by the L2 norm
    (torch.nn.functional.normalize: by max(norm, 1e-12))."""
    m = mask[:, :, None].astype(np.float64)
    if mode == "mean":
        e = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    elif mode == "cls":
        e = hidden[:, 0, :]
    elif mode == "max":
        e = np.where(m > 0, hidden, -np.inf).max(1)
    else:
        raise SystemExit(f"unknown pooling {mode!r}")
    if normalize:
        e = e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
    return e


def embed(model, sequences, mode, normalize, batch_size=16):
    """Sentence embeddings of sequences, run in padded batches of batch_size with attention masks."""
    out = []
    for start in range(0, len(sequences), batch_size):
        hs, _, mask = model.run_batch(sequences[start:start + batch_size])
        out.append(pool(hs, mask, mode, normalize))
    return np.concatenate(out)


def windows(ids, max_length, stride):
    """Hugging Face's strided perplexity ("Perplexity of fixed-length models"): windows
    [begin, min(begin + max_length, n)) for begin = 0, stride, 2*stride, ... up to the one that reaches the
    end. A window's targets are the tokens not targets of an earlier window (its last end - prev_end
    tokens); the first token of a window is never a target (nothing before it in the window predicts it).
    Returns (window ids, scored_from): position p of a window predicts token p + 1 and counts when
    p >= scored_from."""
    if max_length < 2 or not 1 <= stride <= max_length:
        raise SystemExit("--max-length must be >= 2 and 1 <= --stride <= --max-length")
    out, prev_end = [], 0
    for begin in range(0, len(ids), stride):
        end = min(begin + max_length, len(ids))
        targets = end - prev_end
        out.append((ids[begin:end], max(0, (end - begin) - targets - 1)))
        prev_end = end
        if end == len(ids):
            break
    return out


def log_softmax(x):
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def scored_log_probs(model, wins):
    """Per window: (log-probabilities [P, V] of the scored positions, their next tokens [P])."""
    out = []
    for ids, scored_from in wins:
        _, logits = model.run(ids)
        if logits is None:
            raise SystemExit("perplexity needs a model with an LM head")
        out.append((log_softmax(logits[scored_from:len(ids) - 1]), np.asarray(ids[scored_from + 1:])))
    return out


def text_metrics(original, converted, wins):
    """verify --text-file's figures over all windows: each model's perplexity exp(mean NLL of the scored
    next tokens) and next-token accuracy (argmax == the next token), the top-1 agreement of the two
    models' argmaxes and the mean KL(original || converted) over the scored positions."""
    a = scored_log_probs(original, wins)
    b = None if converted is None else scored_log_probs(converted, wins)
    lp_a = np.concatenate([w[0] for w in a])
    targets = np.concatenate([w[1] for w in a])
    n = len(targets)

    def ppl(lp):
        return float(np.exp(-lp[np.arange(n), targets].mean()))

    def acc(lp):
        return float((lp.argmax(-1) == targets).mean())

    out = {"tokens": int(n), "sequences": len(wins), "perplexity": {"original": ppl(lp_a)},
           "next_token_accuracy": {"original": acc(lp_a)}}
    if b is not None:
        lp_b = np.concatenate([w[0] for w in b])
        out["perplexity"]["converted"] = ppl(lp_b)
        out["next_token_accuracy"]["converted"] = acc(lp_b)
        out["top1_agreement"] = float((lp_a.argmax(-1) == lp_b.argmax(-1)).mean())
        out["mean_kl"] = float((np.exp(lp_a) * (lp_a - lp_b)).sum(-1).mean())
    return out


def embedding_metrics(e_a, e_b):
    """verify --lines' figures: the cosine between the two models' embeddings of each sentence (mean and
    minimum) and the share of sentences whose nearest neighbour (highest cosine among the other
    sentences) is the same under both models."""
    def unit(e):
        return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)

    ua, ub = unit(e_a), unit(e_b)
    cos = (ua * ub).sum(-1)
    out = {"sequences": int(len(cos)), "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}
    if len(cos) > 1:
        def neighbours(u):
            sim = u @ u.T
            np.fill_diagonal(sim, -np.inf)
            return sim.argmax(-1)
        out["neighbour_agreement"] = float((neighbours(ua) == neighbours(ub)).mean())
    return out


def text_main(argv):
    """reference.py embed|perplexity|compare: the text commands (see the usage at the top)."""
    command = argv[0]
    ap = argparse.ArgumentParser(prog=f"reference.py {command}")
    ap.add_argument("model_dir")
    if command == "compare":
        ap.add_argument("converted_dir")
    g = ap.add_mutually_exclusive_group(required=True)
    if command in ("embed", "compare"):
        g.add_argument("--lines", help="one sentence per line (blank lines skipped)")
    if command in ("perplexity", "compare"):
        g.add_argument("--text-file", help="one document, evaluated in windows")
    ap.add_argument("--max-length", type=int, help="window / truncation length (default: positions, capped at 1024)")
    ap.add_argument("--stride", type=int, help="--text-file window step (default: --max-length)")
    ap.add_argument("--pooling", choices=["mean", "cls", "max"], help="without sentence-transformers files")
    ap.add_argument("--normalize", action="store_true", help="without sentence-transformers files")
    ap.add_argument("--batch-size", type=int, default=16, help="sentences per padded batch (default 16)")
    ap.add_argument("--out", help="embed: output .safetensors (embeddings [N, C] F32, attention_mask [N, T] U8)")
    a = ap.parse_args(argv[1:])
    model = Model(a.model_dir)
    max_length = a.max_length or default_max_length(model)
    if getattr(a, "lines", None):
        seqs = line_sequences(a.model_dir, a.lines, max_length)
        if not seqs:
            raise SystemExit(f"{a.lines}: no non-blank line")
        mode, norm = pooling_of(a.model_dir, a.pooling, a.normalize)
        emb = embed(model, seqs, mode, norm, a.batch_size)
        if command == "embed":
            if not a.out:
                raise SystemExit("embed needs --out")
            T = max(len(s) for s in seqs)
            mask = np.array([[1] * len(s) + [0] * (T - len(s)) for s in seqs], dtype=np.uint8)
            save_safetensors(a.out, {"embeddings": np.ascontiguousarray(emb.astype(np.float32)), "attention_mask": mask},
                             {"pooling": mode, "normalize": str(norm).lower(), "source": "tools/reference.py"})
            return 0
        other = embed(Model(a.converted_dir), seqs, mode, norm, a.batch_size)
        print(json.dumps({"embeddings": embedding_metrics(emb, other)}, indent=2))
        return 0
    with open(a.text_file, encoding="utf-8") as f:
        ids = tokenizer_of(a.model_dir)(f.read())
    wins = windows(ids, max_length, a.stride or max_length)
    converted = Model(a.converted_dir) if command == "compare" else None
    print(json.dumps({"text": text_metrics(model, converted, wins)}, indent=2))
    return 0


def write_outputs(path, hs, logits, tokens, mode, family, compute="float64"):
    tensors = {"hidden_states": np.ascontiguousarray(hs.astype(np.float32))}
    if logits is not None:
        tensors["logits"] = np.ascontiguousarray(logits.astype(np.float32))
    meta = {"tokens": ",".join(str(int(t)) for t in tokens), "mode": mode,
            "compute_dtype": compute, "family": family, "source": "tools/reference.py"}
    save_safetensors(path, tensors, meta)


# ---------------------------------------------------------------------------
# selftest
# ---------------------------------------------------------------------------

def model_dirs(fixtures):
    out = []
    for name in sorted(os.listdir(fixtures)):
        d = os.path.join(fixtures, name)
        if os.path.isdir(d) and os.path.exists(os.path.join(d, "config.json")):
            out.append(d)
    return out


def selftest(fixtures):
    passed = failed = 0

    def check(label, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"PASS {label} {detail}")
        else:
            failed += 1
            print(f"FAIL {label} {detail}")

    def maxdiff(a, b):
        if a is None or b is None:
            return 0.0 if a is None and b is None else float("inf")
        return float(np.max(np.abs(a - b))) if a.size else 0.0

    # token contract spot values (also asserted on the Swift side)
    check("token contract examples",
          seeded_tokens(5, 3, 64) == [45, 9, 1, 15, 22]
          and seeded_tokens(4, 42, 50257) == [22975, 40835, 38622, 25336]
          and seeded_tokens(4, 2 ** 64 - 1, 32000) == [27936, 969, 1001, 5842])

    results = {}
    models = {}
    for d in model_dirs(fixtures):
        name = os.path.basename(d)
        try:
            m = Model(d)
        except SystemExit as e:
            check(f"{name} load", False, str(e))
            continue
        models[name] = m
        toks = seeded_tokens(12, 7, m.vocab)
        hp, lp = m.run(toks, "parallel")
        hr, lr = m.run(toks, "recurrent")
        diff = max(maxdiff(hp, hr), maxdiff(lp, lr))
        check(f"{name} recurrent==parallel", diff <= 1e-10, f"maxdiff={diff:.3e}")
        finite = np.all(np.isfinite(hp)) and (lp is None or np.all(np.isfinite(lp)))
        spread = float(hp.std())
        check(f"{name} non-trivial output", finite and spread > 1e-3 and float(np.abs(np.diff(hp, axis=0)).max()) > 1e-3,
              f"std={spread:.3f}")
        results[name] = (hp, lp)

        exp = os.path.join(fixtures, "expected", f"{name}.safetensors")
        if os.path.exists(exp):
            raw, meta = load_safetensors(exp)
            etoks = [int(t) for t in meta["tokens"].split(",")]
            eh, el = m.run(etoks, meta.get("mode", "parallel"))
            dh = maxdiff(eh.astype(np.float32).astype(np.float64),
                         to_float64("F32", raw["hidden_states"].shape, raw["hidden_states"].data))
            dl = 0.0
            if "logits" in raw:
                dl = maxdiff(el.astype(np.float32).astype(np.float64),
                             to_float64("F32", raw["logits"].shape, raw["logits"].data))
            check(f"{name} expected output reproduces", dh == 0.0 and dl == 0.0, f"dh={dh:.1e} dl={dl:.1e}")

        if m.lin and not m.lin.get("folded"):
            # the same model with no swapped layer must equal the base model
            cfg = dict(m.cfg)
            cfg["linear_attention"] = dict(m.lin, layers=[], folded=False)
            base = Model(d, cfg, m.w)
            hb, _ = base.run(toks)
            check(f"{name} differs from softmax", maxdiff(hb, hp) > 1e-6, f"maxdiff={maxdiff(hb, hp):.3e}")

    def same(a, b, tol, label):
        if a in results and b in results:
            d = max(maxdiff(results[a][0], results[b][0]), maxdiff(results[a][1], results[b][1]))
            check(label, d <= tol, f"maxdiff={d:.3e}")

    same("gpt2", "gpt2-prefixed", 0.0, "gpt2 == gpt2-prefixed")
    same("bert", "bert-tf", 0.0, "bert == bert-tf (TF layout, transposed kernels)")
    same("bert", "bert-mlm", 0.0, "bert == bert-mlm (the same encoder under a head)")
    same("bert-mlm", "bert-tf-mlm", 0.0, "bert-mlm == bert-tf-mlm (TFBertForMaskedLM keeps the bert. prefix)")

    # the sliding window: it changes the result once the sequence is longer than W, and not before
    if "mistral" in models:
        m = models["mistral"]
        W = m.windows[0]
        toks = seeded_tokens(3 * W, 7, m.vocab)
        full = Model(m.dir, dict(m.cfg, sliding_window=None), m.w)
        hw, _ = m.run(toks)
        hf, _ = full.run(toks)
        check("mistral window changes the output past W", maxdiff(hw[W:], hf[W:]) > 1e-3
              and maxdiff(hw[:W], hf[:W]) == 0.0, f"maxdiff={maxdiff(hw, hf):.3e}")
        wide = Model(m.dir, dict(m.cfg, sliding_window=len(toks)), m.w)
        hv, _ = wide.run(toks)
        check("mistral window >= length == no window", maxdiff(hv, hf) == 0.0)
        # the boundary: with W = 1 each query sees only its own key, so attention returns v_t exactly
        one = Model(m.dir, dict(m.cfg, sliding_window=1), m.w)
        mask = one.causal_mask(0, 5)
        check("window 1 keeps only the diagonal", np.array_equal(mask, np.eye(5, dtype=bool)))
        mask = m.causal_mask(0, 7)
        check("window W keeps keys i-W < j <= i", all(mask[i, j] == (i - W < j <= i) for i in range(7) for j in range(7)))
        # a swapped layer of a windowed model attends linearly to every earlier key, in both modes (elu needs
        # no tensors), and the hybrid's own window replaces the softmax one
        lin = Model(m.dir, dict(m.cfg, linear_attention={"feature_map": "elu", "layers": [0]}), m.w)
        hp, _ = lin.run(toks, "parallel")
        hr, _ = lin.run(toks, "recurrent")
        check("mistral linear layer past the softmax window: recurrent==parallel", maxdiff(hp, hr) <= 1e-10,
              f"maxdiff={maxdiff(hp, hr):.3e}")
        w = dict(m.w, **{f"{m.attn_prefix(0)}.window_factors": np.zeros(m.heads)})
        hy = Model(m.dir, dict(m.cfg, linear_attention={"feature_map": "elu", "layers": [0], "window": 2 * W}), w)
        hp, _ = hy.run(toks, "parallel")
        hr, _ = hy.run(toks, "recurrent")
        check("mistral hybrid layer, window 2W: recurrent==parallel", maxdiff(hp, hr) <= 1e-10, f"maxdiff={maxdiff(hp, hr):.3e}")
    for a, b in (("gpt2-t2r", "gpt2-t2r-folded"), ("bert-t2r", "bert-t2r-folded")):
        # the stored folded weights are rounded to f32
        same(a, b, 1e-5, f"{a} == {b} (up to f32 rounding of the folded weights)")

    # the fold in float64 is exact up to rounding
    for name in ("gpt2-t2r", "bert-t2r"):
        if name in models:
            m = models[name]
            w = {k: v for k, v in m.w.items() if ".feature_map" not in k}
            w.update(fold_t2r(m))
            cfg = dict(m.cfg, linear_attention=dict(m.lin, folded=True, shared_qk=False))
            fm = Model(m.dir, cfg, w)
            toks = seeded_tokens(12, 7, m.vocab)
            hf, lf = fm.run(toks)
            d = max(maxdiff(hf, results[name][0]), maxdiff(lf, results[name][1]))
            check(f"{name} float64 fold == unfolded", d <= 1e-10, f"maxdiff={d:.3e}")

    # the causal-mask buffer must be a real lower-triangular mask
    if "gpt2" in models:
        m = models["gpt2"]
        ok = all(np.array_equal(m.w[f"h.{i}.attn.bias"][0, 0], np.tril(np.ones((m.cfg["n_positions"],) * 2)))
                 for i in range(m.layers))
        check("gpt2 attn.bias buffer is tril", ok)

    # performer: the max-shift stabilisation must cancel exactly in the ratio
    if "qwen2-performer" in models:
        m = models["qwen2-performer"]
        i = sorted(m.linear_layers)[0]
        rng = np.random.default_rng(0)
        q = rng.normal(size=(m.heads, 5, m.head_dim))
        k = rng.normal(size=(m.heads, 5, m.head_dim))
        fm = m.fmaps[i]
        w = fm.params["q"]["projection"]

        def logits_(x):
            xs = x * m.head_dim ** -0.25
            return np.einsum("hmd,htd->htm", w, xs) - 0.5 * (xs * xs).sum(-1, keepdims=True)

        lq, lk = logits_(q), logits_(k)
        pq = np.exp(lq - lq.max(-1, keepdims=True))
        pk = np.exp(lk - lk.max())
        A1 = np.einsum("htf,hsf->hts", pq, pk)
        A2 = np.einsum("htf,hsf->hts", fm("q", q), fm("k", k))
        r1 = A1 / A1.sum(-1, keepdims=True)
        r2 = A2 / A2.sum(-1, keepdims=True)
        check("performer max-shift cancels", maxdiff(r1, r2) < 1e-12, f"maxdiff={maxdiff(r1, r2):.3e}")

    # padding never changes a result: a padded, masked batch equals each sequence run alone
    for name in ("bert", "gpt2", "qwen2-performer", "bert-t2r"):
        if name in models:
            m = models[name]
            seqs = [seeded_tokens(n, 11 + n, m.vocab) for n in (3, 9, 6)]
            hb, lb, mask = m.run_batch(seqs, pad_id=1)
            d = 0.0
            for n, seq in enumerate(seqs):
                h1, l1 = m.run(seq)
                d = max(d, maxdiff(hb[n, :len(seq)], h1), maxdiff(None if lb is None else lb[n, :len(seq)], l1))
            check(f"{name} padded batch == each alone", d <= 1e-10 and mask.sum() == 18, f"maxdiff={d:.3e}")
    # the sliding-window hybrid, on every fixture with an unfolded feature map (window added in memory)
    def hybrid(m, window, g, eps=None):
        w = dict(m.w)
        for i in m.linear_layers:
            w[f"{m.attn_prefix(i)}.window_factors"] = np.full(m.heads, g) if np.isscalar(g) else g
        lin = dict(m.lin, window=window, **({} if eps is None else {"eps": eps}))
        return Model(m.dir, dict(m.cfg, linear_attention=lin), w)

    for name, m in models.items():
        if not m.lin or m.lin.get("folded"):
            continue
        T = 12
        toks = seeded_tokens(T, 7, m.vocab)
        g = np.random.default_rng(5).normal(size=m.heads) - 1.0
        hy = hybrid(m, 4, g)
        hp, lp = hy.run(toks, "parallel")
        hr, lr = hy.run(toks, "recurrent")
        d = max(maxdiff(hp, hr), maxdiff(lp, lr))
        check(f"{name} window 4 recurrent==parallel", d <= 1e-10, f"maxdiff={d:.3e}")
        soft = Model(m.dir, dict(m.cfg, linear_attention=dict(m.lin, layers=[])), m.w)
        hs, _ = soft.run(toks)
        hl, _ = m.run(toks)
        check(f"{name} window 4 differs from softmax and from linear",
              min(maxdiff(hp, hs), maxdiff(hp, hl)) > 1e-6, f"{maxdiff(hp, hs):.3e} {maxdiff(hp, hl):.3e}")
        # a window covering the whole sequence leaves S = z = 0: softmax, gamma cancelling (up to eps)
        wide = T if m.causal else 2 * T
        for gv in (0.0, -2.1972):
            hw, _ = hybrid(m, wide, gv, eps=1e-200).run(toks, "recurrent" if gv else "parallel")
            check(f"{name} window >= length == softmax (gamma {1 / (1 + math.exp(-gv)):.1f})",
                  maxdiff(hw, hs) <= 1e-10, f"maxdiff={maxdiff(hw, hs):.3e}")
    if "bert-t2r" in models:
        m = hybrid(models["bert-t2r"], 4, -1.0)
        seqs = [seeded_tokens(n, 11 + n, m.vocab) for n in (3, 9, 6)]
        hb, _, _ = m.run_batch(seqs, pad_id=1)
        d = max(maxdiff(hb[n, :len(seq)], m.run(seq)[0]) for n, seq in enumerate(seqs))
        check("bert-t2r window 4 padded batch == each alone", d <= 1e-10, f"maxdiff={d:.3e}")

    # rotary scaling: linear divides every frequency; llama3 keeps the high ones, divides the low ones and
    # interpolates between; both against transformers' own inverse frequencies when it is installed
    inv = rope_inverse_frequencies(10000.0, 64)
    lin = rope_inverse_frequencies(10000.0, 64, {"rope_type": "linear", "factor": 4.0})
    check("linear rope scaling divides by the factor", np.allclose(lin * 4.0, inv, rtol=1e-15, atol=0))
    l3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 64}
    got = rope_inverse_frequencies(10000.0, 64, l3)
    wl = 2 * math.pi / inv
    check("llama3 rope scaling: high frequencies kept, low ones divided, a band in between",
          np.array_equal(got[wl < 16], inv[wl < 16]) and np.allclose(got[wl > 64], inv[wl > 64] / 8, rtol=1e-15)
          and np.all((got[(wl >= 16) & (wl <= 64)] < inv[(wl >= 16) & (wl <= 64)])
                     & (got[(wl >= 16) & (wl <= 64)] > inv[(wl >= 16) & (wl <= 64)] / 8))
          and ((wl >= 16) & (wl <= 64)).sum() >= 2 and (wl < 16).sum() >= 2 and (wl > 64).sum() >= 2)
    try:
        import torch  # noqa: F401
        from transformers import LlamaConfig
        from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    except ImportError:
        torch = None
    if torch is not None:
        for params in ({"rope_type": "linear", "factor": 4.0}, l3):
            cfg = LlamaConfig(hidden_size=128, num_attention_heads=2, rope_parameters=dict(params, rope_theta=10000.0))
            theirs, _ = ROPE_INIT_FUNCTIONS[params["rope_type"]](cfg, "cpu")
            ours = rope_inverse_frequencies(10000.0, 64, params)
            d = float(np.max(np.abs(theirs.double().numpy() - ours) / ours))
            check(f"{params['rope_type']} rope scaling == transformers' (f32)", d <= 1e-6, f"max rel diff={d:.2e}")

    # the hybrid as a function, on random heads: its two limits
    rng = np.random.default_rng(9)
    H, T, D, F, W = 2, 10, 4, 6, 3
    q, k, v = (rng.normal(size=(H, T, D)) for _ in range(3))
    fq, fk = (np.abs(rng.normal(size=(H, T, F))) for _ in range(2))
    for causal in (True, False):
        near, far = hybrid_masks(T, W, causal)
        # gamma -> 0: only linear attention over the positions outside the window remains
        y = hybrid_attention_parallel(q, k, v, fq, fk, np.full(H, 1e-30), W, causal, 0.5, 1e-12)
        A = np.einsum("htf,hsf->hts", fq, fk) * far[None]
        rows = far.any(-1)
        want = (A @ v) / A.sum(-1, keepdims=True).clip(1e-300)
        d = maxdiff(y[:, rows], want[:, rows])
        check(f"hybrid gamma->0 is linear attention outside the window ({'causal' if causal else 'bidirectional'})",
              d <= 1e-9, f"maxdiff={d:.3e}")
        # no linear features: softmax over the window alone, whatever gamma
        y = hybrid_attention_parallel(q, k, v, fq * 0, fk, np.full(H, 0.3), W, causal, 0.5, 1e-200)
        s = np.where(near[None], np.einsum("htd,hsd->hts", q, k) * 0.5, -np.inf)
        d = maxdiff(y, softmax(s, -1) @ v)
        check(f"hybrid without features is windowed softmax ({'causal' if causal else 'bidirectional'})",
              d <= 1e-12, f"maxdiff={d:.3e}")
    near, far = hybrid_masks(6, 2, True)
    check("causal hybrid window: n-W < i <= n; linear: j <= n-W",
          all(near[n, i] == (n - 2 < i <= n) and far[n, i] == (i <= n - 2) for n in range(6) for i in range(6)))
    near, far = hybrid_masks(6, 5, False)
    check("bidirectional hybrid window: |i-n| <= W//2; linear: the rest",
          all(near[n, i] == (abs(i - n) <= 2) and far[n, i] == (abs(i - n) > 2) for n in range(6) for i in range(6)))
    near, far = hybrid_masks(8, 2, True, sinks=2)
    check("causal hybrid with 2 sinks: window n-W < i <= n or i < 2 (i <= n); linear: the rest before n-W",
          all(near[n, i] == (i <= n and (n - 2 < i or i < 2)) and far[n, i] == (2 <= i <= n - 2)
              for n in range(8) for i in range(8)))
    near, far = hybrid_masks(8, 2, False, sinks=1)
    check("bidirectional hybrid with a sink: |i-n| <= W//2 or i == 0; linear: the rest",
          all(near[n, i] == (abs(i - n) <= 1 or i == 0) and far[n, i] == (not near[n, i]) for n in range(8) for i in range(8)))
    # the recurrent forms with sinks equal the parallel one
    for sinks in (1, 3):
        state = HybridCausalState(np.full(H, 0.3), W, 0.5, 1e-6, sinks)
        steps = np.stack([state.step(q[:, t], k[:, t], v[:, t], fq[:, t], fk[:, t]) for t in range(T)], axis=1)
        y = hybrid_attention_parallel(q, k, v, fq, fk, np.full(H, 0.3), W, True, 0.5, 1e-6, sinks=sinks)
        d = maxdiff(steps, y)
        check(f"causal hybrid with {sinks} sinks: recurrent == parallel", d <= 1e-12, f"maxdiff={d:.3e}")
        proj = [(q[:, t], k[:, t], v[:, t], fq[:, t], fk[:, t]) for t in range(T)]
        steps = np.stack(hybrid_bidirectional_recurrent(proj, np.full(H, 0.3), 4, 0.5, 1e-6, sinks), axis=1)
        y = hybrid_attention_parallel(q, k, v, fq, fk, np.full(H, 0.3), 4, False, 0.5, 1e-6, sinks=sinks)
        d = maxdiff(steps, y)
        check(f"bidirectional hybrid with {sinks} sinks: two sweeps == parallel", d <= 1e-12, f"maxdiff={d:.3e}")

    # pooling by hand on a 2-sentence batch
    hid = np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2)
    msk = np.array([[1, 1, 0], [1, 1, 1]], dtype=bool)
    check("mean pooling skips padding", np.array_equal(pool(hid, msk, "mean", False), [[1, 2], [8, 9]]))
    check("max / cls pooling", np.array_equal(pool(hid, msk, "max", False), [[2, 3], [10, 11]])
          and np.array_equal(pool(hid, msk, "cls", False), [[0, 1], [6, 7]]))
    # strided windows score every token but the first exactly once; without overlap each window's first
    # token is not scored
    wins = windows(list(range(10)), 4, 2)
    scored = [w[0][p + 1] for w in wins for p in range(w[1], len(w[0]) - 1)]
    check("overlapping windows score each token once", scored == list(range(1, 10)), str(wins))
    wins = windows(list(range(10)), 4, 4)
    scored = [w[0][p + 1] for w in wins for p in range(w[1], len(w[0]) - 1)]
    check("disjoint windows", scored == [1, 2, 3, 5, 6, 7, 9], str(wins))

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("embed", "perplexity", "compare"):
        return text_main(argv)
    if argv and argv[0] == "selftest":
        ap = argparse.ArgumentParser(prog="reference.py selftest")
        ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))
        a = ap.parse_args(argv[1:])
        return selftest(a.fixtures)
    ap = argparse.ArgumentParser(prog="reference.py", description="NumPy float64 reference forward pass")
    ap.add_argument("model_dir")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--tokens", help="comma-separated token ids, e.g. 1,2,3")
    g.add_argument("--length", type=int, help="number of seeded tokens (see the token contract)")
    ap.add_argument("--seed", type=int, default=0, help="seed for --length (default 0)")
    ap.add_argument("--out", required=True, help="output .safetensors path")
    ap.add_argument("--mode", choices=["parallel", "recurrent"], default="parallel")
    ap.add_argument("--compute", choices=["float64", "float32"], default="float64",
                    help="arithmetic precision; float64 (the oracle) unless benchmarking against float32 code")
    ap.add_argument("--time", action="store_true", help="print the forward pass's seconds (weights already loaded) to stderr")
    a = ap.parse_args(argv)
    weights = load_weights(a.model_dir)
    if a.compute == "float32":
        weights = {k: v.astype(np.float32) for k, v in weights.items()}
    m = Model(a.model_dir, weights=weights)
    if a.tokens is not None:
        tokens = [int(t) for t in a.tokens.split(",") if t.strip() != ""]
    else:
        if a.length < 1 or not 0 <= a.seed < 2 ** 64:
            raise SystemExit("--length must be >= 1 and 0 <= --seed < 2**64")
        tokens = seeded_tokens(a.length, a.seed, m.vocab)
    if not tokens:
        raise SystemExit("no tokens")
    start = time.perf_counter()
    hs, logits = m.run(tokens, a.mode)
    if a.time:
        print(f"forward_seconds {time.perf_counter() - start:.6f}", file=sys.stderr)
    write_outputs(a.out, hs, logits, tokens, a.mode, m.family, a.compute)
    return 0


if __name__ == "__main__":
    sys.exit(main())
