#!/usr/bin/env python3
"""Model benchmarks: Recast's forward pass against the NumPy reference, and per-token decoding of the
original model (KV cache) against its T2R variant (constant-size state), measured in one run.

    python3 tools/bench_model.py [--work bench-work] [--lengths 256,1024,4096,16384] [--skip-forward] [--skip-decode]

Generates (with NumPy and Python's safetensors) a synthetic GPT-2-shaped model of about 100M
parameters: 12 layers, hidden 768, 12 heads, vocabulary 32000, MLP 3072, learned positions for 16 448
tokens. Builds Recast in release mode, then:

  forward  tokens per second of a 512-token parallel pass: `recast bench forward` against
           `tools/reference.py --compute float32` (NumPy, same weights and tokens, load time excluded)
  decode   milliseconds per generated token and inference-state bytes at each context length, for the
           original (KV cache) and `recast swap --feature-map t2r` (every layer linear)

Prints tables with ratios; the README keeps the figures.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GENERATE = r"""
import json, os, sys
import numpy as np
sys.path.insert(0, "tools")
from tensorio import save_safetensors
out, n_pos = sys.argv[1], int(sys.argv[2])
E, L, H, V, I = 768, 12, 12, 32000, 3072
rng = np.random.default_rng(0)
def normal(*shape, std=0.02):
    return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float32)
w = {"wte.weight": normal(V, E), "wpe.weight": normal(n_pos, E, std=0.01)}
for i in range(L):
    p = f"h.{i}."
    w[p + "ln_1.weight"] = np.ones(E, np.float32); w[p + "ln_1.bias"] = np.zeros(E, np.float32)
    w[p + "attn.c_attn.weight"] = normal(E, 3 * E); w[p + "attn.c_attn.bias"] = np.zeros(3 * E, np.float32)
    w[p + "attn.c_proj.weight"] = normal(E, E); w[p + "attn.c_proj.bias"] = np.zeros(E, np.float32)
    w[p + "ln_2.weight"] = np.ones(E, np.float32); w[p + "ln_2.bias"] = np.zeros(E, np.float32)
    w[p + "mlp.c_fc.weight"] = normal(E, I); w[p + "mlp.c_fc.bias"] = np.zeros(I, np.float32)
    w[p + "mlp.c_proj.weight"] = normal(I, E); w[p + "mlp.c_proj.bias"] = np.zeros(E, np.float32)
w["ln_f.weight"] = np.ones(E, np.float32); w["ln_f.bias"] = np.zeros(E, np.float32)
os.makedirs(out, exist_ok=True)
save_safetensors(os.path.join(out, "model.safetensors"), w, {"format": "pt"})
config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": E, "n_layer": L, "n_head": H,
          "vocab_size": V, "n_positions": n_pos, "n_inner": I, "activation_function": "gelu_new",
          "layer_norm_epsilon": 1e-5}
json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=2)
print(sum(v.size for v in w.values()))
"""


def sh(cmd, **kw):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-work"))
    ap.add_argument("--lengths", default="256,1024,4096,16384")
    ap.add_argument("--length", type=int, default=512, help="tokens of the forward benchmark")
    ap.add_argument("--skip-forward", action="store_true")
    ap.add_argument("--skip-decode", action="store_true")
    a = ap.parse_args()

    sh(["swift", "build", "-c", "release", "--product", "recast"])
    recast = os.path.join(ROOT, ".build", "release", "recast")
    bench = [recast, "bench"]  # the hidden timing subcommand
    model = os.path.join(a.work, "gpt2-100m")
    n_pos = max(int(x) for x in a.lengths.split(",")) + 64
    if not os.path.exists(os.path.join(model, "config.json")) or json.load(open(os.path.join(model, "config.json")))["n_positions"] < n_pos:
        params = int(sh([sys.executable, "-c", GENERATE, model, str(n_pos)]).stdout.split()[-1])
    else:
        params = None
    print(f"model: {model} (GPT-2 shape: 12 layers, hidden 768, 12 heads, vocab 32000, {n_pos} positions"
          + (f", {params / 1e6:.1f}M parameters)" if params else ")"))

    if not a.skip_forward:
        r = sh(bench + ["forward", model, "--length", str(a.length), "--repeat", "3"]).stdout.split()
        ours = float(r[r.index("tokens_per_second") + 1])
        peer = []
        for _ in range(3):
            e = sh([sys.executable, "tools/reference.py", model, "--length", str(a.length), "--seed", "0",
                    "--out", os.path.join(a.work, "ref-out.safetensors"), "--compute", "float32", "--time"]).stderr.split()
            peer.append(float(e[e.index("forward_seconds") + 1]))
        theirs = a.length / min(peer)
        print()
        print(f"forward, {a.length} tokens, parallel (best of 3):")
        print(f"  recast            {ours:10.1f} tokens/s")
        print(f"  numpy reference   {theirs:10.1f} tokens/s (float32)")
        print(f"  recast / numpy    {ours / theirs:10.2f}x")

    if not a.skip_decode:
        t2r = os.path.join(a.work, "gpt2-100m-t2r")
        sh([recast, "swap", model, t2r, "--feature-map", "t2r", "--seed", "0", "--force"])
        results = {}
        for label, path in [("original (KV cache)", model), ("T2R (RNN state)", t2r)]:
            out = sh(bench + ["decode", path, "--lengths", a.lengths, "--steps", "16"]).stdout
            results[label] = [(int(l.split()[1]), float(l.split()[3]), int(l.split()[5])) for l in out.strip().splitlines()]
        print()
        print("decoding one token after N tokens of context (batch 1, f32):")
        print(f"  {'context':>8}  {'original ms':>12} {'state':>10}   {'T2R ms':>8} {'state':>10}   {'time ratio':>10}")
        orig, lin = results["original (KV cache)"], results["T2R (RNN state)"]
        for (n, t1, b1), (_, t2, b2) in zip(orig, lin):
            print(f"  {n:8d}  {t1:12.2f} {b1 / 2**20:8.1f}MiB   {t2:8.2f} {b2 / 2**20:8.2f}MiB   {t1 / t2:9.2f}x")
        print(f"  growth from {orig[0][0]} to {orig[-1][0]} tokens: original time {orig[-1][1] / orig[0][1]:.2f}x, state "
              f"{orig[-1][2] / orig[0][2]:.1f}x; T2R time {lin[-1][1] / lin[0][1]:.2f}x, state {lin[-1][2] / lin[0][2]:.2f}x")


if __name__ == "__main__":
    main()
