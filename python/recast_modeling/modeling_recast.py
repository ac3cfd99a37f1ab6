"""Recast's converted architectures for Hugging Face `transformers` (remote code).

`recast swap` (and `recast calibrate`) copy this file beside the weights of a converted model and point
config.json's `auto_map` at its classes, so that

    AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)   # GPT-2, Llama, Qwen2, Mistral
    AutoModel.from_pretrained(folder, trust_remote_code=True)              # BERT; a decoder without its head
    AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True)   # a BertForMaskedLM checkpoint

load the model with the semantics Recast runs. config.json's `model_type` is the library's with a `recast_` prefix
(`recast_llama`), which the library does not know: without `trust_remote_code` loading fails, instead of giving the
library's softmax model with the feature maps dropped. Each class subclasses the library's own class for the
family (`LlamaForCausalLM`, `Qwen2ForCausalLM`, `MistralForCausalLM`, `GPT2LMHeadModel`, their base models,
`BertModel`, `BertForMaskedLM`) and
replaces only the attention of the layers listed in config.json's `linear_attention.layers`; every other
module, name and behaviour is the library's.

A swapped layer computes, per head h, with q and k exactly as they would enter softmax attention (after
projection and bias, after rotary, k and v repeated to the query heads under grouped-query attention):

  pure linear   y_n = φ_q(q_n)ᵀ S_n / (φ_q(q_n)ᵀ z_n + ε),  S_n = Σ_{j∈L(n)} φ_k(k_j) v_jᵀ,  z_n = Σ_{j∈L(n)} φ_k(k_j)
                with L(n) = {j ≤ n} (causal) or every position (bidirectional), and no 1/√d factor;
  window W      y_n = [Σ_{i∈W(n)} γ_h e_i v_i + φ_q(q_n)ᵀ S_n] / [Σ_{i∈W(n)} γ_h e_i + φ_q(q_n)ᵀ z_n + ε]
                (LoLCATs), e_i = exp(s q_n·k_i − c_n), s the layer's softmax scale, c_n the largest s q_n·k_i
                over W(n) (it scales the softmax terms only), γ_h = sigmoid(window_factors[h]);
                causal W(n) = {n−W < i ≤ n}, L(n) = {j ≤ n−W}; bidirectional W(n) = {|i−n| ≤ ⌊W/2⌋},
                L(n) = every other position.
  sinks N       (with a window) the first N real tokens of a sequence join every W(n) (causal: those at or
                before n) and leave every L(n): attention sinks, kept apart once they leave the window.

The feature maps φ (parameters `[H, …]`, one slice per head):

  t2r        relu(W x + b)                                  feature_map.{weight [H,k,d], bias [H,k]} when
                                                            shared_qk, else feature_map_q.* and feature_map_k.*;
                                                            folded: feature_map_{q,k}.weight [H,k,hidden] read the
                                                            attention input itself (GPT-2, BERT)
  performer  m^(−1/2) exp(ωᵀx′ − ‖x′‖²/2), x′ = d^(−1/4) x   feature_map.projection [H,m,d], fixed (not trained)
  elu        elu(x) + 1                                     no parameters
  hedgehog   [softmax(W x + b), softmax(−(W x + b))]        feature_map_q.* and feature_map_k.*, 2k features

The parameters are `nn.Parameter`s named as Recast names its tensors (`model.layers.0.self_attn.feature_map_q.weight`,
`….window_factors`), so `from_pretrained` loads every tensor and `save_pretrained` writes a folder Recast reads.

Rotary models (Llama, Qwen2, Mistral) compute their rotary angles and their cos and sin in float64, as Recast
does (`Float64RotaryEmbedding`); the library forms the angles in float32, about 1e-4 off at position 3,000.

Generation keeps a constant-size state per swapped layer in the `Cache` that `generate` passes: (S, z), plus,
with a window, the last W keys, values and φ_k(k) (a key leaving the window is folded into S and z). Softmax
layers keep the library's KV cache. Padding: `attention_mask` marks the real tokens; a padded key adds nothing
to S, z or the window (left padding for generation, any padding for encoders).

Written for transformers 5.24 (torch 2.13). TEMPLATE_VERSION is recorded in config.json's
`linear_attention.template_version` by the Recast that wrote the folder.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any

import torch
from torch import nn
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    GPT2Model,
    LlamaConfig,
    LlamaForCausalLM,
    LlamaModel,
    MistralConfig,
    MistralForCausalLM,
    MistralModel,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2Model,
)
from transformers.cache_utils import Cache, CacheLayerMixin
from transformers.models.bert.modeling_bert import BertSelfAttention
from transformers.models.gpt2.modeling_gpt2 import GPT2Attention
from transformers.models.llama.modeling_llama import LlamaAttention, apply_rotary_pos_emb, repeat_kv
from transformers.models.mistral.modeling_mistral import MistralAttention
from transformers.models.qwen2.modeling_qwen2 import Qwen2Attention

#: The version of this file's semantics and names; Recast records it in `linear_attention.template_version`.
TEMPLATE_VERSION = 2

#: A swapped folder's `model_type` is the library's with this prefix (`recast_llama`); the config classes declare it.
SWAPPED_PREFIX = "recast_"

#: The keyword under which the top-level `forward` passes the 2-D `attention_mask` down to the swapped layers.
PADDING_KEYWORD = "recast_padding"

FEATURE_MAPS = ("t2r", "performer", "elu", "hedgehog")

#: A causal window hybrid with no earlier state runs in blocks (`windowed_causal_blocks`) when the sequence is
#: longer than this many windows; shorter ones (and the cache's blocks, and encoders) take the quadratic form.
BLOCKS_ABOVE_WINDOWS = 2


# ---------------------------------------------------------------------------------------------------------
# The linear_attention block of config.json
# ---------------------------------------------------------------------------------------------------------

class LinearAttentionSettings:
    """The `linear_attention` block of config.json, checked: what every swapped layer needs."""

    def __init__(self, block: dict[str, Any], layer_count: int):
        if not isinstance(block, dict):
            raise ValueError("config.json 'linear_attention' is not an object")
        self.feature_map: str = block.get("feature_map", "")
        if self.feature_map not in FEATURE_MAPS:
            raise ValueError(f"config.json 'linear_attention.feature_map' is {self.feature_map!r}, not one of {', '.join(FEATURE_MAPS)}")
        self.feature_dim: int = int(block["feature_dim"])
        self.layers: list[int] = [int(i) for i in block.get("layers", range(layer_count))]
        for i in self.layers:
            if not 0 <= i < layer_count:
                raise ValueError(f"config.json 'linear_attention.layers' holds {i}, not a layer index below {layer_count}")
        self.eps: float = float(block.get("eps", 1e-6))
        self.shared_qk: bool = bool(block.get("shared_qk", True))
        # Only t2r folds; the other maps read q and k whatever the block says (as in Recast).
        self.folded: bool = bool(block.get("folded", False)) and self.feature_map == "t2r"
        window = block.get("window")
        self.window: int | None = None if window is None else int(window)
        if self.window is not None and self.window < 1:
            raise ValueError(f"config.json 'linear_attention.window' is {window!r}, not a positive integer")
        if self.window is not None and self.folded:
            raise ValueError("config.json 'linear_attention': a window is not defined for folded feature maps")
        sinks = block.get("sinks", 0)
        if isinstance(sinks, bool) or not isinstance(sinks, int) or sinks < ("sinks" in block):
            raise ValueError(f"config.json 'linear_attention.sinks' is {sinks!r}, not a positive integer")
        if sinks and self.window is None:
            raise ValueError("config.json 'linear_attention.sinks' needs a 'window': sinks belong to the window hybrid")
        if sinks and sinks > self.window:
            raise ValueError(f"config.json 'linear_attention.sinks' is {sinks}, more than the 'window' of {self.window}")
        self.sinks: int = sinks
        version = block.get("template_version", TEMPLATE_VERSION)
        if int(version) > TEMPLATE_VERSION:
            raise ValueError(f"config.json 'linear_attention.template_version' is {version}, newer than this file's "
                             f"{TEMPLATE_VERSION}: copy the modeling_recast.py of the Recast that wrote the folder")

    def roles(self) -> list[str]:
        """The modules holding φ's parameters: `feature_map` (shared) or `feature_map_q` and `feature_map_k`."""
        if self.feature_map == "elu":
            return []
        if self.feature_map == "performer" or (self.feature_map == "t2r" and self.shared_qk and not self.folded):
            return ["feature_map"]
        return ["feature_map_q", "feature_map_k"]


# ---------------------------------------------------------------------------------------------------------
# Feature maps: x [B, H, T, in] (or [B, T, hidden] for a folded map) -> φ(x) [B, H, T, F]
# ---------------------------------------------------------------------------------------------------------

class AffineFeatures(nn.Module):
    """u = W_h x + b_h per head: `weight` [H, k, in], `bias` [H, k] (t2r and hedgehog)."""

    def __init__(self, heads: int, features: int, in_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(heads, features, in_features))
        self.bias = nn.Parameter(torch.zeros(heads, features))

    def affine(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # folded: the attention input [B, T, hidden], the same for every head
            return torch.einsum("bti,hki->bhtk", x, self.weight) + self.bias[None, :, None, :]
        return torch.einsum("bhti,hki->bhtk", x, self.weight) + self.bias[None, :, None, :]


class T2RFeatureMap(AffineFeatures):
    """T2R (Kasai et al. 2021): φ(x) = relu(W x + b), k features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.affine(x))


class HedgehogFeatureMap(AffineFeatures):
    """Hedgehog (Zhang et al. 2024): φ(x) = [softmax(W x + b), softmax(−(W x + b))], 2k features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.affine(x)
        # One softmax over [u, −u] stacked on a new axis, flattened to [softmax(u), softmax(−u)]: the same values
        # as two softmaxes and a concatenation, in fewer operations (forward and backward).
        return torch.softmax(torch.stack([u, -u], dim=-2), dim=-1).flatten(-2)


class PerformerFeatureMap(nn.Module):
    """Performer's FAVOR+ (Choromanski et al. 2021): φ(x) = m^(−1/2) exp(ωᵀx′ − ‖x′‖²/2), x′ = d^(−1/4) x.
    The projection ω [H, m, d] is fixed: a parameter that is not trained (`forward` detaches it, so no
    gradient reaches it even when loading or `--full` training marks every parameter trainable)."""

    def __init__(self, heads: int, features: int, head_dim: int):
        super().__init__()
        self.projection = nn.Parameter(torch.zeros(heads, features, head_dim), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, d = self.projection.shape[1], self.projection.shape[2]
        xs = x * d ** -0.25
        projected = torch.einsum("bhtd,hmd->bhtm", xs, self.projection.detach())
        return m ** -0.5 * torch.exp(projected - 0.5 * (xs * xs).sum(-1, keepdim=True))


class ELUFeatureMap(nn.Module):
    """Katharopoulos et al. 2020: φ(x) = elu(x) + 1, element by element, no parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.elu(x) + 1


def make_feature_map(settings: LinearAttentionSettings, heads: int, head_dim: int, hidden: int) -> nn.Module:
    """One role's φ for a layer of `heads` heads of size `head_dim` (maps of a folded t2r read `hidden` features)."""
    k = settings.feature_dim
    if settings.feature_map == "t2r":
        return T2RFeatureMap(heads, k, hidden if settings.folded else head_dim)
    if settings.feature_map == "hedgehog":
        return HedgehogFeatureMap(heads, k, head_dim)
    if settings.feature_map == "performer":
        return PerformerFeatureMap(heads, k, head_dim)
    return ELUFeatureMap()


# ---------------------------------------------------------------------------------------------------------
# The recurrent state of a swapped layer, kept in transformers' Cache
# ---------------------------------------------------------------------------------------------------------

class LinearAttentionState(CacheLayerMixin):
    """One swapped layer's place in a `Cache`: (S [B,H,F,d], z [B,H,F]) over the positions folded so far and,
    with a window, the last ≤ W keys, values, φ_k(k), key mask, sink flags and real-token ranks; with sinks,
    the sinks that left the window (`parked`: k, v [B,H,N,d], mask [B,N]) and the real tokens seen per row
    (`real` [B]). Its size does not grow with the sequence.

    It reports the positions seen like a `DynamicLayer`, so masks and positions of the other layers are unchanged."""

    is_sliding = False
    is_compileable = False
    is_croppable = False
    supports_early_init = False

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.S: torch.Tensor | None = None
        self.z: torch.Tensor | None = None
        self.ring: dict[str, torch.Tensor] | None = None
        self.parked: dict[str, torch.Tensor] | None = None
        self.real: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
        raise RuntimeError("a linear-attention layer keeps (S, z) and a window ring, not a KV cache")

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.seen + query_length, 0

    def get_seq_length(self) -> int:
        return self.seen

    def get_max_length(self) -> int:
        return -1

    def reset(self) -> None:
        self.seen, self.S, self.z, self.ring, self.parked, self.real = 0, None, None, None, None, None
        self.is_initialized = False

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError("a linear-attention state cannot give back tokens (assisted decoding is not supported)")

    def _map_batch(self, f) -> None:
        if self.S is not None:
            self.S, self.z = f(self.S), f(self.z)
        if self.ring is not None:
            self.ring = {key: f(value) for key, value in self.ring.items()}
        if self.parked is not None:
            self.parked = {key: f(value) for key, value in self.parked.items()}
        if self.real is not None:
            self.real = f(self.real)

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._map_batch(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._map_batch(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._map_batch(lambda t: t[indices, ...])


def state_in(cache: Cache | None, layer: int) -> LinearAttentionState | None:
    """The layer's `LinearAttentionState` in `cache`, put in place of the KV layer the cache made for it."""
    if cache is None:
        return None
    if hasattr(cache, "self_attention_cache"):  # an EncoderDecoderCache
        cache = cache.self_attention_cache
    while len(cache.layers) <= layer:
        cache.layers.append(LinearAttentionState())
    if not isinstance(cache.layers[layer], LinearAttentionState):
        cache.layers[layer] = LinearAttentionState()
    return cache.layers[layer]


# ---------------------------------------------------------------------------------------------------------
# The attention of a swapped layer
# ---------------------------------------------------------------------------------------------------------

class WindowBlockSums(torch.autograd.Function):
    """The causal window hybrid over blocks of W queries, with a hand-written backward (`windowed_causal_blocks`
    builds the inputs). Autograd through the same sums records some thirty operations, most of them writing a new
    tensor the size of the scores and keeping it for the backward; here the forward works in place and keeps the
    exponentials, the linear weights, the running sums and the denominators, and the backward is a dozen products
    that accumulate in place (`baddbmm_`). Its result equals autograd's through `quadratic` (tools/
    remote_code_check.py compares every parameter's gradient in float64). It is differentiable once: no
    gradient of a gradient.

      Q [B, H, n, W, d]       the blocks' queries, times the softmax scale
      K, V [B, H, n, W, d]    the blocks' keys and values
      FQ, FK [B, H, n, W, F]  φ_q of the queries, φ_k of the keys (zero where a key may not be linear)
      near [B|1, 1, n, W, M]  (bool) each query's softmax terms among its candidates: the previous block's W
                              keys, the block's own W, then the sinks (M = 2W + sinks)
      gamma [H]
      KS, VS [B, H, sinks, d] the sinks' keys and values (None without sinks)

    Query i of block c takes, besides its softmax terms, the keys t ≤ i of block c − 1 (weights A = φ_q φ_kᵀ) and
    every key of the blocks before c − 1 (the running sums S, z) into its linear part:

      y = [γ Σ E v + Σ A v + φ_q S] / [γ Σ E + Σ A + φ_q z + eps],  E = exp(q·k − c) on `near` (0 elsewhere),

    c the largest of the query's near logits (0 when it has none). The gradient through c goes to that logit
    (to one of them, when several are equal). Every tensor is in Q's dtype; autocast is off inside."""

    @staticmethod
    def forward(ctx, Q, K, V, FQ, FK, near, gamma, eps: float, KS, VS):
        B, H, n, W, d = V.shape
        g = gamma[:, None, None, None]
        Q, K, V, FQ, FK = (x.contiguous() for x in (Q, K, V, FQ, FK))  # `flat` views them as batches of matrices
        with torch.no_grad(), torch.autocast(Q.device.type, enabled=False):
            KC, VC = (torch.cat([shifted(x), x] + ([s[:, :, None].expand(B, H, n, s.shape[2], d)] if s is not None else []),
                                dim=3) for x, s in ((K, KS), (V, VS)))
            FKp = shifted(FK)
            E = (Q @ KC.mT).masked_fill_(~near, float("-inf"))
            c, top = E.max(-1, keepdim=True)
            c.masked_fill_(torch.isinf(c), 0.0)  # a query with no near key (all padding): no softmax term
            E.sub_(c).exp_()
            A = (FQ @ FKp.mT).tril_()
            # S_c, z_c: the sums of the blocks before c − 1, a running sum moved on by two blocks.
            S = nn.functional.pad((FK.mT @ V).cumsum_(2), (0, 0, 0, 0, 2, -2))
            z = nn.functional.pad(FK.sum(-2).cumsum_(2), (0, 0, 2, -2))
            num = (E @ VC).mul_(g)
            flat(num).baddbmm_(flat(A), flat(VC)[:, :W]).baddbmm_(flat(FQ), flat(S))
            den = E.sum(-1).mul_(g[..., 0]).add_(A.sum(-1)).add_((FQ @ z[..., None])[..., 0]).add_(eps)
            out = num.div_(den[..., None])
        ctx.sinks = KS is not None
        ctx.save_for_backward(Q, KC, VC, FQ, FKp, FK, V, S, z, gamma, E, A, den, out, top)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout):
        Q, KC, VC, FQ, FKp, FK, V, S, z, gamma, E, A, den, out, top = ctx.saved_tensors
        W, F = V.shape[-2], FQ.shape[-1]
        g = gamma[:, None, None, None]
        with torch.autocast(Q.device.type, enabled=False):
            dnum = dout.to(Q.dtype).contiguous() / den[..., None]
            dden = (dnum * out).sum(-1).neg_()  # ∂y/∂den = −y/den
            dWt = (dnum @ VC.mT).add_(dden[..., None])  # ∂L/∂ each weight, softmax or linear
            dA = dWt[..., :W].tril()
            dVC = (E.mT @ dnum).mul_(g)
            flat(dVC)[:, :W].baddbmm_(flat(A).mT, flat(dnum))
            dFQ = dnum @ S.mT
            flat(dFQ).baddbmm_(dden.view(-1, W, 1), z.view(-1, 1, F)).baddbmm_(flat(dA), flat(FKp))
            dFKp = dA.mT @ FQ
            G = dWt.mul_(E)  # ∂L/∂E ⊙ E / γ
            dgamma = G.sum((0, 2, 3, 4))
            G.mul_(g)  # ∂L/∂ the logits, through E …
            G.scatter_add_(-1, top, G.sum(-1, keepdim=True).neg_())  # … and through c, at the largest logit
            dQ = G @ KC
            dKC = G.mT @ Q
            dK, dV = (x[..., W:2 * W, :].clone() for x in (dKC, dVC))
            dK[:, :, :-1] += dKC[:, :, 1:, :W]
            dV[:, :, :-1] += dVC[:, :, 1:, :W]
            # Block b's sums reach S_c and z_c of every block c ≥ b + 2.
            dsums = sums_after_next(FQ.mT @ dnum)
            dzs = sums_after_next((FQ.mT @ dden[..., None])[..., 0])
            dFK = nn.functional.pad(dFKp, (0, 0, 0, 0, -1, 1)).add_(dzs[..., None, :])
            flat(dFK).baddbmm_(flat(V), flat(dsums).mT)
            flat(dV).baddbmm_(flat(FK), flat(dsums))
            dKS = dKC[..., 2 * W:, :].sum(2) if ctx.sinks else None
            dVS = dVC[..., 2 * W:, :].sum(2) if ctx.sinks else None
        return dQ, dK, dV, dFQ, dFK, None, dgamma, None, dKS, dVS


def flat(x: torch.Tensor) -> torch.Tensor:
    """[…, m, e] → [N, m, e], a view (x must be contiguous in its leading dimensions): `baddbmm_` accumulates into it."""
    return x.view(-1, *x.shape[-2:])


def sums_after_next(x: torch.Tensor) -> torch.Tensor:
    """x [B, H, n, …] per block → for block b, the sum of x over the blocks c ≥ b + 2 (zero for the last two): a
    running sum from the end, added up in order (a total minus a running sum would cancel in low precision)."""
    return torch.cat([x[:, :, 2:].flip(2).cumsum(2).flip(2), torch.zeros_like(x[:, :, :2])], dim=2)


def shifted(x: torch.Tensor) -> torch.Tensor:
    """Blocks [B, H, n, W, e] moved on by one block: block c holds block c − 1, block 0 zeros."""
    return torch.cat([torch.zeros_like(x[:, :, :1]), x[:, :, :-1]], dim=2)


def windowed_causal_blocks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, fq: torch.Tensor, fk: torch.Tensor,
                           key_mask: torch.Tensor | None, gamma: torch.Tensor, window: int, scale: float,
                           eps: float, sinks: int = 0, rank: torch.Tensor | None = None) -> torch.Tensor:
    """The causal window hybrid over a whole sequence with nothing before it, in blocks of W queries: the same
    sums as `linear_attention`'s, in O(L·W) time and memory instead of O(L²) (training on 512 tokens with a
    window of 64 builds 8 times smaller score matrices). Shapes as `linear_attention`'s; key_mask [B, L] bool
    (None: every token real).

    Query i of block c (position cW + i) sees, in its own block, the keys t ≤ i, all in its window; in block
    c − 1, the keys t > i in its window and the keys t ≤ i in its linear part; and every key of the blocks
    before c − 1 in its linear part, summed into S and z once per block. `WindowBlockSums` computes the sums.

    With sinks (`rank` [B, L]: each real key's index among its row's real tokens), the first
    `sinks` real tokens of each row leave the linear sums, and each query also sees, as
    softmax terms, those of them that are no longer in its window (gathered by a one-hot product, which
    keeps the gradient dense)."""
    B, H, L, d = v.shape
    W = window
    count = -(-L // W)
    pad = count * W - L
    dtype = functools.reduce(torch.promote_types, (x.dtype for x in (q, k, v, fq, fk, gamma)))
    q, k, v, fq, fk, gamma = (x.to(dtype) for x in (q, k, v, fq, fk, gamma))

    def blocks(x: torch.Tensor) -> torch.Tensor:
        """[B, H, L, e] → [B, H, count, W, e], zeros after the end."""
        if pad:
            x = nn.functional.pad(x, (0, 0, 0, pad))
        return x.reshape(x.shape[0], x.shape[1], count, W, x.shape[-1])

    i = torch.arange(W, device=v.device)
    lower = i[None, :] <= i[:, None]  # [W queries, W keys]: key t at or before query i
    first = torch.arange(count, device=v.device)[None, None, :, None, None] == 0  # block 0 has no previous block
    if key_mask is not None and not bool(key_mask.all()):
        real = key_mask[:, None, :, None].to(dtype)  # [B, 1, L, 1]
        fk = fk * real
        key_real = blocks(real).mT > 0  # [B, 1, count, 1, W]
        near = [~lower & ~first & shifted(key_real), lower & key_real]
    else:
        near = [(~lower & ~first).expand(1, 1, count, W, W), lower.expand(1, 1, count, W, W)]
    KS = VS = None
    if sinks:
        real = key_mask.to(torch.bool) if key_mask is not None else torch.ones(B, L, dtype=torch.bool, device=v.device)
        slot = real[:, :, None] & (rank[:, :, None] == torch.arange(sinks, device=v.device))
        onehot = slot.to(dtype)  # [B, L, sinks]: key l is row b's sink s
        fk = fk * (~slot.any(-1))[:, None, :, None].to(dtype)
        KS, VS = (torch.einsum("bls,bhld->bhsd", onehot, x) for x in (k, v))
        at = torch.einsum("bls,l->bs", onehot, torch.arange(L, device=v.device, dtype=dtype))  # the sinks' positions
        query = torch.arange(count * W, device=v.device, dtype=dtype).reshape(count, W)
        # A sink is a separate term once it has left the query's window (inside it, the window has it).
        near.append((slot.any(1)[:, None, None, :] & (at[:, None, None, :] <= (query - W)[None, :, :, None]))[:, None])
    rows = max(m.shape[0] for m in near)
    near = torch.cat([m.expand(rows, 1, count, W, m.shape[-1]) for m in near], dim=-1)
    out = WindowBlockSums.apply(blocks(q * scale), blocks(k), blocks(v), blocks(fq), blocks(fk), near, gamma, eps,
                                KS, VS)
    return out.reshape(B, H, count * W, d)[:, :, :L]


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, fq: torch.Tensor, fk: torch.Tensor,
                     key_mask: torch.Tensor | None, gamma: torch.Tensor | None, window: int | None, causal: bool,
                     scale: float, eps: float, state: LinearAttentionState | None, sinks: int = 0) -> torch.Tensor:
    """A block of L tokens: q, k, v [B, H, L, d] (q, k unused without a window), fq, fk [B, H, L, F], key_mask
    [B, L] (True for real tokens; None: all real), gamma [H] (with a window). `state` (causal only) holds what
    came before the block and is advanced past it. Returns [B, H, L, d].

    The keys are the state's window ring followed by the block; query i of the block sits at ring length + i.
    A key is in the query's window (softmax term), in its linear part, or invisible; the state's (S, z) cover
    every position before the ring. With sinks, the first `sinks` real tokens of each row (ranked by the
    state's count of real tokens before the block) are window keys for every later query: the ones that
    left the ring sit in the state's `parked` store, in front of the ring's keys."""
    B, H, L, d = v.shape
    F = fq.shape[-1]
    given_mask = None if key_mask is None else key_mask.to(torch.bool)
    key_mask = given_mask if given_mask is not None else torch.ones(B, L, dtype=torch.bool, device=v.device)
    before = state.real if state is not None and state.real is not None else key_mask.new_zeros(B, dtype=torch.long)
    rank = before[:, None] + key_mask.long().cumsum(1) - 1  # each key's index among its row's real tokens
    sink = key_mask & (rank < sinks)
    S = fq.new_zeros(B, H, F, d)
    z = fq.new_zeros(B, H, F)
    K, V, FK, M, SINK, RANK = k, v, fk, key_mask, sink, rank
    parked = 0
    if state is not None and state.S is not None:
        S, z = state.S, state.z
        if state.ring is not None:
            K = torch.cat([state.ring["k"], k], dim=2)
            V = torch.cat([state.ring["v"], v], dim=2)
            FK = torch.cat([state.ring["fk"], fk], dim=2)
            M = torch.cat([state.ring["mask"], key_mask], dim=1)
            SINK = torch.cat([state.ring["sink"], sink], dim=1)
            RANK = torch.cat([state.ring["rank"], rank], dim=1)
        if state.parked is not None:
            parked = sinks
            K = torch.cat([state.parked["k"], K], dim=2)
            V = torch.cat([state.parked["v"], V], dim=2)
            FK = torch.cat([FK.new_zeros(B, H, sinks, F), FK], dim=2)
            M = torch.cat([state.parked["mask"], M], dim=1)
            SINK = torch.cat([state.parked["mask"], SINK], dim=1)
            RANK = torch.cat([RANK.new_zeros(B, sinks), RANK], dim=1)
    N = V.shape[2]
    if causal and window is not None and N == L and L > BLOCKS_ABOVE_WINDOWS * window:
        out = windowed_causal_blocks(q, k, v, fq, fk, given_mask, gamma, window, scale, eps, sinks, rank)
    else:
        out = quadratic(q, K, V, fq, FK, M, S, z, gamma, window, causal, scale, eps, SINK if sinks else None)
    if state is not None:
        # Positions of the ring and the block that leave (or never enter) the window are folded into (S, z),
        # or parked when they are sinks; the rest stay in the ring.
        keep = min(window, N - parked) if window is not None else 0
        lo, hi = parked, N - keep
        fold = (FK[:, :, lo:hi] * (M & ~SINK)[:, None, lo:hi, None]).to(S.dtype)
        state.S = S + torch.einsum("bhnf,bhnd->bhfd", fold, V[:, :, lo:hi].to(S.dtype))
        state.z = z + fold.sum(2)
        if sinks and hi > lo:
            slot = (SINK[:, lo:hi, None] & (RANK[:, lo:hi, None] == torch.arange(sinks, device=v.device)))
            onehot = slot.to(V.dtype)  # [B, leaving, sinks]
            if state.parked is None:
                state.parked = {"k": K.new_zeros(B, H, sinks, d), "v": V.new_zeros(B, H, sinks, d),
                                "mask": M.new_zeros(B, sinks)}
            state.parked = {"k": state.parked["k"] + torch.einsum("bns,bhnd->bhsd", onehot, K[:, :, lo:hi]),
                            "v": state.parked["v"] + torch.einsum("bns,bhnd->bhsd", onehot, V[:, :, lo:hi]),
                            "mask": state.parked["mask"] | slot.any(1)}
        state.ring = None if keep == 0 else {"k": K[:, :, N - keep:], "v": V[:, :, N - keep:],
                                             "fk": FK[:, :, N - keep:], "mask": M[:, N - keep:],
                                             "sink": SINK[:, N - keep:], "rank": RANK[:, N - keep:]}
        state.real = before + key_mask.long().sum(1)
        state.seen += L
        state.is_initialized = True
    return out


def quadratic(q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, fq: torch.Tensor, FK: torch.Tensor, M: torch.Tensor,
              S: torch.Tensor, z: torch.Tensor, gamma: torch.Tensor | None, window: int | None, causal: bool,
              scale: float, eps: float, sink: torch.Tensor | None = None) -> torch.Tensor:
    """`linear_attention`'s sums with every query against every key (the parked sinks', the ring's and the
    block's): the L queries of the block are the last L of the N keys; S and z cover every position before
    them. sink [B, N] (bool) marks the sinks: window keys for every query (causal: before it), never linear."""
    L, N = fq.shape[2], V.shape[2]
    n = torch.arange(N - L, N, device=V.device)[:, None]  # query positions among the keys
    j = torch.arange(N, device=V.device)[None, :]
    if causal:
        near = (j <= n) & (j > n - window) if window is not None else torch.zeros(L, N, dtype=torch.bool, device=V.device)
        far = j <= n - window if window is not None else j <= n
    else:
        near = (j - n).abs() <= window // 2 if window is not None else torch.zeros(L, N, dtype=torch.bool, device=V.device)
        far = ~near
    visible = M[:, None, None, :]  # [B, 1, 1, N]
    far = far[None, None] & visible
    if sink is not None:
        far = far & ~sink[:, None, None, :]
    weights = torch.einsum("bhlf,bhnf->bhln", fq, FK) * far
    if window is not None:
        near = near[None, None] & visible
        if sink is not None:
            near = near | (sink[:, None, None, :] & visible & ((j <= n) if causal else True))
        logits = torch.einsum("bhld,bhnd->bhln", q, K) * scale
        c = logits.masked_fill(~near, float("-inf")).amax(-1, keepdim=True)
        c = torch.where(torch.isfinite(c), c, torch.zeros_like(c))  # a query with no window key has no softmax term
        soft = torch.exp((logits - c).masked_fill(~near, 0.0)) * near
        weights = weights + gamma[None, :, None, None].to(soft.dtype) * soft
    numerator = weights @ V + torch.einsum("bhlf,bhfd->bhld", fq, S)
    denominator = weights.sum(-1) + torch.einsum("bhlf,bhf->bhl", fq, z) + eps
    return numerator / denominator[..., None]


class LinearAttentionMixin:
    """What every family's swapped attention adds: φ's parameters, the window factors and the computation.
    Mixed in before the library's attention class, whose projections (and their names) stay as they are."""

    def init_linear(self, settings: LinearAttentionSettings, heads: int, head_dim: int, hidden: int) -> None:
        self.linear = settings
        self.heads = heads
        for role in settings.roles():
            setattr(self, role, make_feature_map(settings, heads, head_dim, hidden))
        if settings.feature_map == "elu":
            self.feature_map = ELUFeatureMap()
        if settings.window is not None:
            # γ_h = sigmoid(g_h); Recast starts g_h at −2.1972 (γ = 0.1, as LoLCATs).
            self.window_factors = nn.Parameter(torch.full((heads,), -2.1972))

    def phi(self, role: str, x: torch.Tensor) -> torch.Tensor:
        """φ_q (role "q") or φ_k (role "k") of x."""
        module = getattr(self, f"feature_map_{role}", None) or self.feature_map
        return module(x)

    def attend(self, q: torch.Tensor | None, k: torch.Tensor | None, v: torch.Tensor, fq: torch.Tensor, fk: torch.Tensor,
               kwargs: dict[str, Any], cache: Cache | None, causal: bool) -> torch.Tensor:
        """The layer's context [B, L, H·d] from q, k, v [B, H, L, d] and φ_q(q), φ_k(k) [B, H, L, F]."""
        padding = kwargs.get(PADDING_KEYWORD)
        L = v.shape[2]
        key_mask = None if padding is None else padding[:, -L:].to(torch.bool)
        gamma = torch.sigmoid(self.window_factors) if self.linear.window is not None else None
        state = state_in(cache, self.layer_idx) if causal else None
        out = linear_attention(q, k, v, fq, fk, key_mask, gamma, self.linear.window, causal, self.scaling,
                               self.linear.eps, state, self.linear.sinks)
        return out.transpose(1, 2).reshape(v.shape[0], L, -1)


class RotaryLinearAttention(LinearAttentionMixin):
    """A swapped Llama, Qwen2 or Mistral layer: q, k after rotary, k and v repeated to the query heads."""

    def __init__(self, config, layer_idx: int):
        super().__init__(config, layer_idx)
        self.init_linear(LinearAttentionSettings(config.linear_attention, config.num_hidden_layers),
                         config.num_attention_heads, self.head_dim, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor, position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
                attention_mask: torch.Tensor | None = None, cache: Cache | None = None, past_key_values: Cache | None = None,
                **kwargs: Any) -> tuple[torch.Tensor, None]:
        cache = cache if cache is not None else past_key_values
        shape = (*hidden_states.shape[:-1], -1, self.head_dim)
        q = self.q_proj(hidden_states).view(shape).transpose(1, 2)
        k = self.k_proj(hidden_states).view(shape).transpose(1, 2)
        v = self.v_proj(hidden_states).view(shape).transpose(1, 2)
        cos, sin = position_embeddings
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        k, v = repeat_kv(k, self.num_key_value_groups), repeat_kv(v, self.num_key_value_groups)
        context = self.attend(q, k, v, self.phi("q", q), self.phi("k", k), kwargs, cache, causal=True)
        return self.o_proj(context), None


class RecastLlamaAttention(RotaryLinearAttention, LlamaAttention):
    """A swapped Llama layer."""


class RecastQwen2Attention(RotaryLinearAttention, Qwen2Attention):
    """A swapped Qwen2 layer (a swapped layer attends linearly to every earlier key: no sliding window)."""


class RecastMistralAttention(RotaryLinearAttention, MistralAttention):
    """A swapped Mistral layer (a swapped layer attends linearly to every earlier key: no sliding window)."""


class RecastGPT2Attention(LinearAttentionMixin, GPT2Attention):
    """A swapped GPT-2 layer; a folded t2r map reads the attention input (after ln_1) itself."""

    def __init__(self, config, layer_idx: int):
        super().__init__(config, layer_idx=layer_idx)
        self.init_linear(LinearAttentionSettings(config.linear_attention, config.num_hidden_layers),
                         self.num_heads, self.head_dim, self.embed_dim)

    def forward(self, hidden_states: torch.Tensor, cache: Cache | None = None, attention_mask: torch.Tensor | None = None,
                past_key_values: Cache | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
        cache = cache if cache is not None else past_key_values
        q, k, v = self.c_attn(hidden_states).split(self.split_size, dim=2)
        shape = (*hidden_states.shape[:-1], -1, self.head_dim)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        source = hidden_states if self.linear.folded else None
        fq, fk = self.phi("q", q if source is None else source), self.phi("k", k if source is None else source)
        context = self.attend(q, k, v, fq, fk, kwargs, cache, causal=True)
        return self.resid_dropout(self.c_proj(context)), None


class RecastBertSelfAttention(LinearAttentionMixin, BertSelfAttention):
    """A swapped BERT layer: bidirectional; a folded t2r map reads the layer input itself."""

    def __init__(self, config, is_causal: bool = False, layer_idx: int | None = None):
        super().__init__(config, is_causal=is_causal, layer_idx=layer_idx)
        self.init_linear(LinearAttentionSettings(config.linear_attention, config.num_hidden_layers),
                         self.num_attention_heads, self.attention_head_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, cache: Cache | None = None,
                **kwargs: Any) -> tuple[torch.Tensor, None]:
        shape = (*hidden_states.shape[:-1], -1, self.attention_head_size)
        v = self.value(hidden_states).view(shape).transpose(1, 2)
        if self.linear.folded:
            q = k = None
            fq, fk = self.phi("q", hidden_states), self.phi("k", hidden_states)
        else:
            q = self.query(hidden_states).view(shape).transpose(1, 2)
            k = self.key(hidden_states).view(shape).transpose(1, 2)
            fq, fk = self.phi("q", q), self.phi("k", k)
        return self.attend(q, k, v, fq, fk, kwargs, None, causal=False), None


# ---------------------------------------------------------------------------------------------------------
# Configs and models
# ---------------------------------------------------------------------------------------------------------

def passing_padding(base_forward):
    """The library's top-level `forward` (same signature, for `generate` and `peft`), also handing the 2-D
    `attention_mask` down to the swapped layers under PADDING_KEYWORD."""
    signature = inspect.signature(base_forward)

    @functools.wraps(base_forward)
    def forward(self, *args: Any, **kwargs: Any):
        bound = signature.bind_partial(self, *args, **kwargs).arguments
        mask = bound.get("attention_mask")
        if mask is not None and mask.dim() == 2:
            kwargs[PADDING_KEYWORD] = mask
        return base_forward(self, *args, **kwargs)

    return forward


def swap_layers(config, layers: nn.ModuleList, attention: str, make) -> None:
    """Replaces the attention module `attention` of each swapped layer with `make(layer_index)`."""
    settings = LinearAttentionSettings(config.linear_attention, config.num_hidden_layers)
    for i in settings.layers:
        parent = layers[i]
        *path, last = attention.split(".")
        for part in path:
            parent = getattr(parent, part)
        setattr(parent, last, make(i))


class RecastLlamaConfig(LlamaConfig):
    """A Llama config with Recast's `linear_attention` block."""

    model_type = SWAPPED_PREFIX + "llama"


class RecastQwen2Config(Qwen2Config):
    """A Qwen2 config with Recast's `linear_attention` block."""

    model_type = SWAPPED_PREFIX + "qwen2"


class RecastMistralConfig(MistralConfig):
    """A Mistral config with Recast's `linear_attention` block."""

    model_type = SWAPPED_PREFIX + "mistral"


class RecastGPT2Config(GPT2Config):
    """A GPT-2 config with Recast's `linear_attention` block."""

    model_type = SWAPPED_PREFIX + "gpt2"


class RecastBertConfig(BertConfig):
    """A BERT config with Recast's `linear_attention` block."""

    model_type = SWAPPED_PREFIX + "bert"


def rope_inverse_frequencies(config) -> list[float] | None:
    """The rotation angle per position of each rotary pair, in float64, from the published definitions of the
    rotary types Recast runs (None for any other type: the library's rotary embedding is then kept):

      default  θ^(−2i/d)
      linear   θ^(−2i/d) / factor  (positions divided by `factor`)
      llama3   Llama 3.1's interpolation: with wavelength λ = 2π/f and L = original_max_position_embeddings,
               λ < L/high_freq_factor keeps f, λ > L/low_freq_factor gives f/factor, and in between, with
               s = (L/λ − low_freq_factor)/(high_freq_factor − low_freq_factor), (1 − s)·f/factor + s·f."""
    rope = dict(getattr(config, "rope_parameters", None) or {})
    kind = rope.get("rope_type", rope.get("type", "default"))
    theta = float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0)))
    if float(rope.get("partial_rotary_factor", getattr(config, "partial_rotary_factor", None) or 1.0)) != 1.0:
        return None
    d = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    plain = [1.0 / theta ** (2 * i / d) for i in range(d // 2)]
    if kind == "default":
        return plain
    if kind == "linear":
        return [f / float(rope["factor"]) for f in plain]
    if kind == "llama3":
        factor, low, high = float(rope["factor"]), float(rope["low_freq_factor"]), float(rope["high_freq_factor"])
        context = float(rope["original_max_position_embeddings"])

        def rescale(f: float) -> float:
            wavelength = 2 * math.pi / f
            if wavelength < context / high:
                return f
            if wavelength > context / low:
                return f / factor
            s = (context / wavelength - low) / (high - low)
            return (1 - s) * f / factor + s * f

        return [rescale(f) for f in plain]
    return None


class Float64RotaryEmbedding(nn.Module):
    """The library's rotary embedding with its angles (position × inverse frequency) and their cos and sin
    computed in float64, then cast to the activations' dtype, as Recast computes them. The library forms the
    angles in float32, whose rounding (about 1e-5 radians at position 150) a badly conditioned model, such as a
    swap before calibration, turns into logits 1e-4 apart from Recast's. The frequencies are a Python list, not
    a buffer, so `model.to(torch.bfloat16)` cannot round them; MPS, which has no float64, computes on the CPU."""

    def __init__(self, library: nn.Module, inverse_frequencies: list[float]):
        super().__init__()
        self.inverse_frequencies = inverse_frequencies
        self.attention_scaling = float(getattr(library, "attention_scaling", 1.0))

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        device = position_ids.device if position_ids.device.type != "mps" else torch.device("cpu")
        frequencies = torch.tensor(self.inverse_frequencies, dtype=torch.float64, device=device)
        angles = position_ids.to(device=device, dtype=torch.float64)[..., None] * frequencies
        angles = torch.cat((angles, angles), dim=-1)
        cos, sin = angles.cos() * self.attention_scaling, angles.sin() * self.attention_scaling
        return cos.to(device=x.device, dtype=x.dtype), sin.to(device=x.device, dtype=x.dtype)


def swap_rotary_decoder(decoder: nn.Module, config, attention_class: type) -> None:
    """In a Llama, Qwen2 or Mistral decoder (`LlamaModel`, …): the listed layers' `self_attn` becomes
    `attention_class`, and every layer's rotary angles, softmax ones included, are computed in float64
    (`Float64RotaryEmbedding`)."""
    swap_layers(config, decoder.layers, "self_attn", lambda i: attention_class(config, i))
    frequencies = rope_inverse_frequencies(config)
    if frequencies is not None:
        decoder.rotary_emb = Float64RotaryEmbedding(decoder.rotary_emb, frequencies)


class RotaryCausalLM:
    """Mixed in before `LlamaForCausalLM`, `Qwen2ForCausalLM` or `MistralForCausalLM`: builds the library's
    model and swaps its decoder (`swap_rotary_decoder`)."""

    attention_class: type

    def __init__(self, config):
        super().__init__(config)
        swap_rotary_decoder(self.model, config, self.attention_class)


class RotaryDecoder:
    """Mixed in before `LlamaModel`, `Qwen2Model` or `MistralModel`: the decoder without its language-model head
    (`AutoModel`: hidden states, embeddings), swapped as in the causal classes."""

    attention_class: type

    def __init__(self, config):
        super().__init__(config)
        swap_rotary_decoder(self, config, self.attention_class)


class RecastLlamaModel(RotaryDecoder, LlamaModel):
    """`LlamaModel` with Recast's linear attention in the swapped layers."""

    config_class = RecastLlamaConfig
    attention_class = RecastLlamaAttention
    forward = passing_padding(LlamaModel.forward)


class RecastQwen2Model(RotaryDecoder, Qwen2Model):
    """`Qwen2Model` with Recast's linear attention in the swapped layers."""

    config_class = RecastQwen2Config
    attention_class = RecastQwen2Attention
    forward = passing_padding(Qwen2Model.forward)


class RecastMistralModel(RotaryDecoder, MistralModel):
    """`MistralModel` with Recast's linear attention in the swapped layers."""

    config_class = RecastMistralConfig
    attention_class = RecastMistralAttention
    forward = passing_padding(MistralModel.forward)


class RecastGPT2Model(GPT2Model):
    """`GPT2Model` with Recast's linear attention in the swapped layers."""

    config_class = RecastGPT2Config

    def __init__(self, config: GPT2Config):
        super().__init__(config)
        swap_layers(config, self.h, "attn", lambda i: RecastGPT2Attention(config, i))

    forward = passing_padding(GPT2Model.forward)


class RecastLlamaForCausalLM(RotaryCausalLM, LlamaForCausalLM):
    """`LlamaForCausalLM` with Recast's linear attention in the swapped layers."""

    config_class = RecastLlamaConfig
    attention_class = RecastLlamaAttention
    forward = passing_padding(LlamaForCausalLM.forward)


class RecastQwen2ForCausalLM(RotaryCausalLM, Qwen2ForCausalLM):
    """`Qwen2ForCausalLM` with Recast's linear attention in the swapped layers."""

    config_class = RecastQwen2Config
    attention_class = RecastQwen2Attention
    forward = passing_padding(Qwen2ForCausalLM.forward)


class RecastMistralForCausalLM(RotaryCausalLM, MistralForCausalLM):
    """`MistralForCausalLM` with Recast's linear attention in the swapped layers."""

    config_class = RecastMistralConfig
    attention_class = RecastMistralAttention
    forward = passing_padding(MistralForCausalLM.forward)


class RecastGPT2LMHeadModel(GPT2LMHeadModel):
    """`GPT2LMHeadModel` with Recast's linear attention in the swapped layers."""

    config_class = RecastGPT2Config

    def __init__(self, config: GPT2Config):
        super().__init__(config)
        swap_layers(config, self.transformer.h, "attn", lambda i: RecastGPT2Attention(config, i))

    forward = passing_padding(GPT2LMHeadModel.forward)


class RecastBertModel(BertModel):
    """`BertModel` with Recast's linear attention in the swapped layers."""

    config_class = RecastBertConfig

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config, add_pooling_layer=add_pooling_layer)
        swap_layers(config, self.encoder.layer, "attention.self",
                    lambda i: RecastBertSelfAttention(config, layer_idx=i))

    forward = passing_padding(BertModel.forward)


class RecastBertForMaskedLM(BertForMaskedLM):
    """`BertForMaskedLM` whose encoder is a `RecastBertModel` (no pooler, as the library's): for a swapped
    checkpoint that holds the masked-LM head (`cls.predictions.*`), so that every tensor loads and
    `save_pretrained` keeps the head. `auto_map` names it as `AutoModelForMaskedLM` when the source's
    `architectures` say `BertForMaskedLM`."""

    config_class = RecastBertConfig

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = RecastBertModel(config, add_pooling_layer=False)
        self.post_init()  # ties the decoder to the new encoder's word embeddings again
