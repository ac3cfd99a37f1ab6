#!/usr/bin/env python3
"""PyTorch checkpoint conversion benchmark: `recast convert X.bin Y.safetensors` against the safetensors
project's route and against `cp`, measured side by side in one run. Never in CI.

    python3 tools/bench_pickle.py [--size-gb 1.0] [--repeat 1] [--work bench-work] [--no-build]

Builds Recast in release mode (`swift build -c release --product recast`), then in a child process writes a
~1 GB pytorch_model.bin with `torch.save` (zip format; random f32 tensors of a Llama-like model's real shapes:
SmolLM2-360M's hidden 960, MLP 2560, 5 KV heads of 64, vocabulary 49152; as many layers as fit the size;
`lm_head.weight` tied to the embedding, as SmolLM2's is), and times whole processes (best of --repeat, warm
page cache for all):

  recast   `recast convert X.bin Y.safetensors`
  python   `torch.load(X, weights_only=True)` then `safetensors.torch.save_file` (contiguous, the tied tensor
           cloned), in a child process: what the safetensors project's convert script does
  cp       `cp X.bin Z`

with each one's peak resident memory (wait4's ru_maxrss), against the largest tensor. Prints a table and the
ratios, and checks that both routes wrote the same tensors. OPENBLAS_CORETYPE is printed with the figures.
"""
import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from benchlib import measure  # noqa: E402

HIDDEN, MLP, KV, VOCAB = 960, 2560, 320, 49152

MAKE = r"""
import collections, sys, torch
path, layers = sys.argv[1], int(sys.argv[2])
h, m, kv, vocab = %d, %d, %d, %d
g = torch.Generator().manual_seed(0)
r = lambda *shape: torch.randn(*shape, generator=g) * 0.02
sd = collections.OrderedDict()
sd["model.embed_tokens.weight"] = r(vocab, h)
for i in range(layers):
    p = f"model.layers.{i}."
    sd[p + "self_attn.q_proj.weight"] = r(h, h)
    sd[p + "self_attn.k_proj.weight"] = r(kv, h)
    sd[p + "self_attn.v_proj.weight"] = r(kv, h)
    sd[p + "self_attn.o_proj.weight"] = r(h, h)
    sd[p + "mlp.gate_proj.weight"] = r(m, h)
    sd[p + "mlp.up_proj.weight"] = r(m, h)
    sd[p + "mlp.down_proj.weight"] = r(h, m)
    sd[p + "input_layernorm.weight"] = torch.ones(h)
    sd[p + "post_attention_layernorm.weight"] = torch.ones(h)
sd["model.norm.weight"] = torch.ones(h)
sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
torch.save(sd, path)
""" % (HIDDEN, MLP, KV, VOCAB)

PYTHON_ROUTE = r"""
import sys, torch
from safetensors.torch import save_file
sd = torch.load(sys.argv[1], weights_only=True, map_location="cpu")
seen, out = set(), {}
for k, v in sd.items():
    ptr = v.untyped_storage().data_ptr()
    out[k] = v.contiguous().clone() if ptr in seen else v.contiguous()
    seen.add(ptr)
save_file(out, sys.argv[2], metadata={"format": "pt"})
"""

COMPARE = r"""
import sys
from safetensors import safe_open
a, b = safe_open(sys.argv[1], "np"), safe_open(sys.argv[2], "np")
assert sorted(a.keys()) == sorted(b.keys()), "different tensor names"
for k in a.keys():
    x, y = a.get_tensor(k), b.get_tensor(k)
    assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), k
print(len(a.keys()))
"""


def layers_for(size_gb):
    per_layer = 2 * HIDDEN * HIDDEN + 2 * KV * HIDDEN + 3 * MLP * HIDDEN + 2 * HIDDEN
    return max(1, round((size_gb * 1e9 / 4 - VOCAB * HIDDEN) / per_layer))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gb", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-work"))
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()

    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--product", "recast"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    recast = os.path.join(ROOT, ".build", "release", "recast")
    os.makedirs(args.work, exist_ok=True)
    layers = layers_for(args.size_gb)
    src = os.path.join(args.work, f"pytorch_model-{layers}-layers.bin")
    if not os.path.exists(src):
        print(f"writing {src} ({layers} layers) with torch.save ...", flush=True)
        subprocess.run([sys.executable, "-c", MAKE, src, str(layers)], check=True)
    size = os.path.getsize(src)
    largest = VOCAB * HIDDEN * 4

    outputs = {"recast": os.path.join(args.work, "recast.safetensors"),
               "python": os.path.join(args.work, "python.safetensors"),
               "cp": os.path.join(args.work, "copy.bin")}
    commands = {"recast": [recast, "convert", src, outputs["recast"]],
                "python": [sys.executable, "-c", PYTHON_ROUTE, src, outputs["python"]],
                "cp": ["cp", src, outputs["cp"]]}
    subprocess.run(["cat", src], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    best = {}
    for _ in range(args.repeat):
        for name, cmd in commands.items():
            if os.path.exists(outputs[name]):
                os.remove(outputs[name])
            m = measure(cmd)
            if name not in best or m.seconds < best[name].seconds:
                best[name] = m
    same = subprocess.run([sys.executable, "-c", COMPARE, outputs["recast"], outputs["python"]],
                          capture_output=True, text=True)

    print(f"\n{os.path.basename(src)}: {size / 1e9:.2f} GB, largest tensor {largest / 1e6:.0f} MB "
          f"(the embedding, tied to lm_head); best of {args.repeat}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; {os.cpu_count()} cores")
    print(f"{'route':8} {'seconds':>8} {'CPU s':>7} {'peak RSS MB':>12} {'GB/s':>6}")
    for name, m in best.items():
        print(f"{name:8} {m.seconds:8.2f} {m.cpu_seconds:7.2f} {m.peak_bytes / 1e6:12.0f} {size / 1e9 / m.seconds:6.2f}")
    r, p, c = best["recast"], best["python"], best["cp"]
    print(f"recast is {p.seconds / r.seconds:.2f}x as fast as the Python route and takes {r.seconds / c.seconds:.2f}x "
          f"the time of cp; peak memory {r.peak_bytes / p.peak_bytes:.2f}x the Python route's, "
          f"{r.peak_bytes / largest:.2f}x the largest tensor")
    print("both routes wrote the same tensors" if same.returncode == 0 else f"OUTPUTS DIFFER: {same.stderr[-1000:]}")
    print("recast said:", r.stdout.strip()[-600:])
    for path in outputs.values():
        if os.path.exists(path):
            os.remove(path)
    return 0 if same.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
