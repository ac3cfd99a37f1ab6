#!/usr/bin/env python3
"""The attention-transfer loss of one swapped layer and its gradients, by PyTorch autograd (float64), written from
issue 13's text (and issue 12's hybrid formula), with the feature maps of tools/feature_map_reference.py. Used by
Tests/CalibrationTests to check Recast's hand-written gradients.

Student of head h at query n (causal: window n-W < i <= n, linear j <= n-W; bidirectional: window |i-n| <= W//2,
linear every other j; without a window, linear over j <= n, or every j when bidirectional):

  y_n = [sum_win g_h exp(q_n.k_i s - c_n) v_i + sum_lin (phi_q(q_n).phi_k(k_j)) v_j]
        / [sum_win g_h exp(q_n.k_i s - c_n) + sum_lin phi_q(q_n).phi_k(k_j) + eps]

with g_h = sigmoid(window_factors[h]) and c_n the largest logit q_n.k_i s of the window (part of the function).
With N attention sinks ("sinks"), positions i < N join the window (causal: those i <= n) and leave the linear part.
A folded map reads the layer input x in place of q and k. The loss is the mean of (y - teacher)^2 over every
sequence, head, position and dimension.

Input: a JSON file {"map", "causal", "window" (null: none), "sinks" (optional, default 0), "eps", "scale", "folded", "heads",
  "params": {suffix: {"shape", "data"}},   suffix as written: feature_map.weight, feature_map_q.bias, window_factors
  "sequences": [{"q", "k", "v", "target": {"shape": [H, T, d], "data"}, "input": {"shape": [T, hidden], "data"}}]}
(q and k may be null for a folded map without a window), or a list of such objects. Output (stdout):
{"loss": L, "grads": {suffix: [flat]}} for every trained tensor (performer's projection is fixed), or a list.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from feature_map_reference import phi  # noqa: E402


def tensor(spec, grad=False):
    return torch.tensor(spec["data"], dtype=torch.float64).reshape(spec["shape"]).requires_grad_(grad)


def head_params(params, role, h):
    """One head's slice of a role's parameters (`feature_map_q`, or the shared `feature_map`)."""
    own = {k.split(".", 1)[1]: v for k, v in params.items() if k.split(".", 1)[0] == f"feature_map_{role}"}
    shared = {k.split(".", 1)[1]: v for k, v in params.items() if k.split(".", 1)[0] == "feature_map"}
    return {k: v[h] for k, v in (own or shared).items()}


def masks(t, window, causal, sinks=0):
    """([T, T] window pairs, [T, T] linear pairs): row n, column i."""
    n = torch.arange(t).unsqueeze(1)
    i = torch.arange(t).unsqueeze(0)
    if window is None:
        near = torch.zeros(t, t, dtype=torch.bool)
        return near, (i <= n) if causal else torch.ones(t, t, dtype=torch.bool)
    sink = i < sinks
    if causal:
        return (i <= n) & ((i > n - window) | sink), (i <= n - window) & ~sink
    near = ((i - n).abs() <= window // 2) | sink
    return near, ~near


def student(spec, params, seq, h):
    window, causal, eps, scale = spec["window"], spec["causal"], spec["eps"], spec["scale"]
    v = seq["v"][h]
    t = v.shape[0]
    xq = seq["input"] if spec["folded"] else seq["q"][h]
    xk = seq["input"] if spec["folded"] else seq["k"][h]
    fq = phi(spec["map"], xq, head_params(params, "q", h))
    fk = phi(spec["map"], xk, head_params(params, "k", h))
    near, far = masks(t, window, causal, spec.get("sinks", 0))
    weights = (fq @ fk.T) * far
    if window is not None:
        logits = (seq["q"][h] @ seq["k"][h].T) * scale
        c = logits.masked_fill(~near, float("-inf")).max(dim=-1, keepdim=True).values
        gamma = torch.sigmoid(params["window_factors"][h])
        weights = weights + gamma * torch.where(near, torch.exp(logits - c), torch.zeros_like(logits))
    return (weights @ v) / (weights.sum(-1, keepdim=True) + eps)


def loss_and_gradients(spec):
    params = {k: tensor(v, grad=not k.endswith("projection")) for k, v in spec["params"].items()}
    sequences = [{k: tensor(v) for k, v in s.items() if v is not None} for s in spec["sequences"]]
    total, count = 0, 0
    for seq in sequences:
        for h in range(spec["heads"]):
            y = student(spec, params, seq, h)
            total = total + ((y - seq["target"][h]) ** 2).sum()
            count += y.numel()
    loss = total / count
    loss.backward()
    return {"loss": loss.item(),
            "grads": {k: (v.grad.flatten().tolist() if v.grad is not None else [0.0] * v.numel())
                      for k, v in params.items() if v.requires_grad}}


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    json.dump([loss_and_gradients(s) for s in spec] if isinstance(spec, list) else loss_and_gradients(spec), sys.stdout)


if __name__ == "__main__":
    main()
