#!/usr/bin/env python3
"""Feature maps of linear attention and their gradients, by PyTorch autograd (float64), from the published
definitions. Used by Tests/FeatureMapTests to check Recast's forward and backward kernels.

Input: a JSON file {"map": name, "x": [rows][in], "params": {key: nested list of one head}, "grad": [rows][features]}.
Output (stdout): {"phi": [[...]], "input": [[...]], "params": {key: nested list}} where "input" and "params"
hold dL/dx and dL/dparameter for L = sum(grad * phi). Performer's projection is fixed: no gradient for it.

  t2r        relu(W x + b)                                    (Kasai et al. 2021)
  performer  m^(-1/2) exp(w^T x' - |x'|^2 / 2), x' = d^(-1/4) x  (FAVOR+, Choromanski et al. 2021)
  elu        elu(x) + 1                                       (Katharopoulos et al. 2020)
  hedgehog   [softmax(W x + b), softmax(-(W x + b))]           (Zhang et al. 2024)
"""
import json
import sys

import torch


def phi(name, x, p):
    """φ(x) for rows x [..., in] and one head's parameters (weight [k, in], bias [k], projection [m, d]); with
    a stack of heads (weight [H, k, in], bias [H, 1, k], projection [H, m, d]), x [..., H, T, in] gives each
    head's rows through that head's parameters (tools/attention_fit.py)."""
    if name == "t2r":
        return torch.relu(x @ p["weight"].mT + p["bias"])
    if name == "hedgehog":
        u = x @ p["weight"].mT + p["bias"]
        return torch.cat([torch.softmax(u, dim=-1), torch.softmax(-u, dim=-1)], dim=-1)
    if name == "elu":
        return torch.nn.functional.elu(x) + 1
    if name == "performer":
        w = p["projection"]
        m, d = w.shape[-2:]
        xs = x * d ** -0.25
        return m ** -0.5 * torch.exp(xs @ w.mT - (xs * xs).sum(-1, keepdim=True) / 2)
    raise SystemExit(f"unknown feature map {name}")


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    name = spec["map"]
    x = torch.tensor(spec["x"], dtype=torch.float64, requires_grad=True)
    fixed = {"projection"}
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k not in fixed) for k, v in spec["params"].items()}
    out = phi(name, x, params)
    loss = (out * torch.tensor(spec["grad"], dtype=torch.float64)).sum()
    loss.backward()
    json.dump({
        "phi": out.detach().tolist(),
        "input": x.grad.tolist(),
        "params": {k: v.grad.tolist() for k, v in params.items() if v.grad is not None},
    }, sys.stdout)


if __name__ == "__main__":
    main()
