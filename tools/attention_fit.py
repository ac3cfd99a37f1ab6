#!/usr/bin/env python3
"""What limits attention transfer without a window? Fits one causal model layer's feature maps to its softmax
attention in PyTorch, with knobs `recast calibrate` does not have, and says where the error that is left sits.

    python3 tools/attention_fit.py MODEL LAYER[,LAYER...] [--map hedgehog|t2r] [--k 64] [--loss mse|kl|kl+mse]
        [--sinks N] [--steps 400] [--lr 1e-2] [--batch 4] [--windows 40] [--length 512] [--offset 100000]
        [--threads 2]

MODEL is a Llama-family Hugging Face folder with f32 weights (for SmolLM2: `recast convert X.gguf FOLDER`).
Text: Python's own documentation, pydoc_data.topics, from character --offset: --windows windows of --length
tokens, the last tenth held out. For each LAYER, as LoLCATs' attention transfer does (teacher forcing):
- the layer's inputs come from the original model; q, k (after rotary) and v per head, k and v repeated to the
  query heads; the teacher is causal softmax attention over them, y = softmax(q·k/√d) v;
- the student is linear attention with no window, y_n = Σ_{j≤n} φ_q(q_n)·φ_k(k_j) v_j / (Σ_{j≤n} φ_q(q_n)·φ_k(k_j)
  + 1e-6), with Hedgehog's map φ(x) = [softmax(Wx + b), softmax(−(Wx + b))] (separate maps for q and k, W the
  rectangular identity at first, b = 0, 2k features: as `recast swap --feature-map hedgehog --feature-dim k`
  starts them), or T2R's φ(x) = relu(Wx + b) (one map for q and k, W uniform in ±1/√d, k features);
- with --sinks N (an experiment: `recast swap` takes --sinks only with a window), the first N positions leave the
  linear sums and enter as softmax terms, as the hybrid's sinks do: weight γ_h exp(q_n·k_j/√d − c_n) for j < N,
  c_n the largest of those logits, γ_h = sigmoid(g_h) learned (0.1 at first);
- training: AdamW (0.9, 0.999, no weight decay), gradient norm clipped to 1, the rate divided by 10 when the
  validation error stalls (here: measured 8 times per run, 2 measurements without a new best), like `recast
  calibrate`; on --loss mse the mean squared error of the outputs (calibrate's
  loss), kl the cross-entropy of the linear attention's weights against softmax's (Hedgehog's own objective),
  kl+mse the first half of the steps on kl, the rest on mse.
Prints per layer the validation error (the mean squared error of the outputs, whatever the loss) at the start
and at its best and their ratio (issue 13's figure for a layer), and per head, after the last step: its share of
the error left,
the share of its softmax attention on the last 8 positions (the query's own included) and on position 0.
Never run in CI: a layer takes one to four minutes.
"""
import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pydoc_data.topics  # noqa: E402
import torch  # noqa: E402
import feature_map_reference  # noqa: E402  (tools/, this script's folder)
from tokenizers import Tokenizer  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, repeat_kv  # noqa: E402

EPS = 1e-6


def layer_inputs(model, windows: torch.Tensor, layers: list[int]) -> dict[int, torch.Tensor]:
    """Each layer's input hidden states [N, T, hidden] over the windows, from the original model."""
    captured: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}

    def hook(layer):
        def record(module, args, kwargs):
            captured[layer].append((args[0] if args else kwargs["hidden_states"]).detach())
        return record

    handles = [model.model.layers[layer].register_forward_pre_hook(hook(layer), with_kwargs=True) for layer in layers]
    with torch.no_grad():
        for row in windows:
            model(input_ids=row[None])
    for handle in handles:
        handle.remove()
    return {layer: torch.cat(x) for layer, x in captured.items()}


def heads(model, layer: int, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """q, k, v [N, H, T, d] of one layer: q and k after rotary, k and v repeated to the query heads."""
    block = model.model.layers[layer]
    attention = block.self_attn
    x = block.input_layernorm(hidden)
    shape = (*x.shape[:-1], -1, attention.head_dim)
    q, k, v = (proj(x).view(shape).transpose(1, 2) for proj in (attention.q_proj, attention.k_proj, attention.v_proj))
    q, k = apply_rotary_pos_emb(q, k, cos, sin)
    groups = attention.num_key_value_groups
    return q, repeat_kv(k, groups), repeat_kv(v, groups)


class Student(torch.nn.Module):
    """Causal linear attention through Hedgehog's or T2R's map, started as `recast swap` starts it."""

    def __init__(self, kind: str, H: int, k: int, d: int, generator: torch.Generator, sinks: int = 0):
        super().__init__()
        self.kind, self.sinks = kind, sinks
        if sinks:
            self.window_factors = torch.nn.Parameter(torch.full((H,), -2.1972))

        def weight():
            if kind == "hedgehog":
                w = torch.zeros(H, k, d)
                n = min(k, d)
                w[:, range(n), range(n)] = 1
                return torch.nn.Parameter(w)
            return torch.nn.Parameter((torch.rand(H, k, d, generator=generator) * 2 - 1) / d ** 0.5)

        self.wq, self.bq = weight(), torch.nn.Parameter(torch.zeros(H, k))
        if kind == "hedgehog":  # separate maps for q and k; T2R's is shared
            self.wk, self.bk = weight(), torch.nn.Parameter(torch.zeros(H, k))

    def phi(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """x [N, H, T, d] through each head's map: feature_map_reference's φ, the published definitions."""
        return feature_map_reference.phi(self.kind, x, {"weight": w, "bias": b[:, None, :]})

    def weights(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """The unnormalised causal weights φ_q(q_n)·φ_k(k_j), j ≤ n: [N, H, T, T]."""
        fq = self.phi(q, self.wq, self.bq)
        fk = self.phi(k, self.wk, self.bk) if self.kind == "hedgehog" else self.phi(k, self.wq, self.bq)
        T = q.shape[2]
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        if not self.sinks:
            return (fq @ fk.transpose(-1, -2)) * causal
        sink = torch.arange(T) < self.sinks
        logits = (q @ k[:, :, :self.sinks].transpose(-1, -2)) * q.shape[-1] ** -0.5  # [N, H, T, sinks]
        logits = logits.masked_fill(~causal[:, :self.sinks], float("-inf"))
        soft = torch.exp(logits - logits.amax(-1, keepdim=True)) * torch.sigmoid(self.window_factors)[None, :, None, None]
        linear = (fq @ fk.transpose(-1, -2)) * (causal & ~sink)
        return torch.cat([soft, linear[..., self.sinks:]], -1)

    def forward(self, q, k, v):
        a = self.weights(q, k)
        return (a @ v) / (a.sum(-1, keepdim=True) + EPS), a


def softmax_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    T = q.shape[2]
    mask = torch.full((T, T), float("-inf")).triu(1)
    return torch.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5 + mask, -1)


def fit(a, layer: int, q, k, v, y) -> None:
    N, H, T, d = q.shape
    held = max(1, N // 10)
    train, valid = range(0, N - held), slice(N - held, N)
    generator = torch.Generator().manual_seed(layer)
    student = Student(a.map, H, a.k, d, generator, a.sinks)

    def error() -> float:
        with torch.no_grad():
            total = 0.0
            for i in range(valid.start, valid.stop, a.batch):
                j = min(i + a.batch, valid.stop)
                total += ((student(q[i:j], k[i:j], v[i:j])[0] - y[i:j]) ** 2).mean().item() * (j - i)
            return total / held

    start = best = error()
    params = list(student.parameters())
    optimiser = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.1, patience=2)
    every = max(1, a.steps // 8)
    began = time.time()
    for step in range(a.steps):
        rows = torch.randint(0, len(train), (a.batch,), generator=generator)
        out, weights = student(q[rows], k[rows], v[rows])
        if a.loss == "mse" or (a.loss == "kl+mse" and step >= a.steps // 2):
            loss = ((out - y[rows]) ** 2).mean()
        else:
            with torch.no_grad():
                teacher = softmax_weights(q[rows], k[rows])
            student_weights = weights / (weights.sum(-1, keepdim=True) + EPS)
            loss = -(teacher * torch.log(student_weights + 1e-12)).sum(-1).mean()
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        if (step + 1) % every == 0 or step + 1 == a.steps:
            e = error()
            best = min(best, e)
            plateau.step(e)
            print(f"  layer {layer} step {step + 1}: validation error {e:.4e} ({start / e:.2f}× lower), rate "
                  f"{optimiser.param_groups[0]['lr']:.0e}, {time.time() - began:.0f} s", flush=True)
    print(f"layer {layer}, {a.map} k={a.k}, sinks {a.sinks}, loss {a.loss}, {a.steps} steps: validation error {start:.4e} → {best:.4e}, "
          f"{start / best:.2f}× lower", flush=True)
    with torch.no_grad():
        out = student(q[valid], k[valid], v[valid])[0]
        per_head = ((out - y[valid]) ** 2).mean((0, 2, 3))
        p = softmax_weights(q[valid], k[valid])[:, :, 64:]  # queries past the first 64 positions
        distance = torch.arange(64, T)[:, None] - torch.arange(T)[None, :]
        near = (p * ((distance >= 0) & (distance < 8))).sum(-1).mean((0, 2))
        first = p[..., 0].mean((0, 2))
    for h in range(H):
        print(f"  head {h}: {per_head[h] / per_head.sum():4.0%} of the error left; softmax's share on the last 8 "
              f"positions {near[h]:.2f}, on position 0 {first[h]:.2f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("layers")
    p.add_argument("--map", choices=["hedgehog", "t2r"], default="hedgehog")
    p.add_argument("--k", type=int, default=64, help="hedgehog: 2k features; t2r: k features")
    p.add_argument("--loss", choices=["mse", "kl", "kl+mse"], default="mse")
    p.add_argument("--sinks", type=int, default=0)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--windows", type=int, default=40)
    p.add_argument("--length", type=int, default=512)
    p.add_argument("--offset", type=int, default=100_000, help="where in pydoc_data.topics the text starts")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    tokenizer = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    text = " ".join(pydoc_data.topics.topics.values())
    ids = tokenizer.encode(text[a.offset:a.offset + a.windows * a.length * 6]).ids
    count = min(a.windows, len(ids) // a.length)
    if count < 2:
        raise SystemExit(f"only {len(ids)} tokens of text from --offset {a.offset}: not two windows of {a.length}")
    windows = torch.tensor(ids[:count * a.length]).view(count, a.length)
    layers = [int(x) for x in a.layers.split(",")]
    inputs = layer_inputs(model, windows, layers)
    cos, sin = model.model.rotary_emb(torch.zeros(1), torch.arange(a.length)[None])
    print(f"{a.model}: {count} windows of {a.length} tokens ({count - max(1, count // 10)} to train on)", flush=True)
    for layer in layers:
        with torch.no_grad():
            q, k, v = heads(model, layer, inputs[layer], cos, sin)
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        fit(a, layer, q, k, v, y)


if __name__ == "__main__":
    main()
