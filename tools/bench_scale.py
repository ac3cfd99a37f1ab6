#!/usr/bin/env python3
"""Scale benchmark: a synthetic checkpoint of at least 8 GB in safetensors shards, converted to bf16,
to HDF5 and back from HDF5 (Recast's own HDF5 reader), and swapped to T2R, each timed against a plain
copy of the same bytes and watched for peak memory (which must stay under the largest tensor plus
256 MB).

    python3 tools/bench_scale.py [--work bench-work/scale] [--layers 10] [--keep]

The checkpoint is GPT-2-shaped (hidden 4096, MLP 16384, vocabulary 32000) and is written with NumPy
and Python's safetensors in 2 GB shards with a Hugging Face index. Peak memory comes from wait4's
ru_maxrss of each process; the measuring process itself stays small (the generator runs in a child)
because ru_maxrss carries a parent's high-water mark across fork.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from benchlib import run  # noqa: E402

GENERATE = r"""
import json, os, sys
import numpy as np
sys.path.insert(0, "tools")
from tensorio import save_safetensors
out, L = sys.argv[1], int(sys.argv[2])
E, V, I, P = 4096, 32000, 16384, 1024
rng = np.random.default_rng(0)
pool = (rng.standard_normal(E * I, dtype=np.float32) * 0.02)  # reused: the bytes' values do not matter here
def t(*shape):
    n = int(np.prod(shape))
    return pool[:n].reshape(shape) if n <= pool.size else np.resize(pool, n).reshape(shape)
names = [("wte.weight", (V, E)), ("wpe.weight", (P, E))]
for i in range(L):
    p = f"h.{i}."
    names += [(p + "ln_1.weight", (E,)), (p + "ln_1.bias", (E,)), (p + "attn.c_attn.weight", (E, 3 * E)),
              (p + "attn.c_attn.bias", (3 * E,)), (p + "attn.c_proj.weight", (E, E)), (p + "attn.c_proj.bias", (E,)),
              (p + "ln_2.weight", (E,)), (p + "ln_2.bias", (E,)), (p + "mlp.c_fc.weight", (E, I)),
              (p + "mlp.c_fc.bias", (I,)), (p + "mlp.c_proj.weight", (I, E)), (p + "mlp.c_proj.bias", (E,))]
names += [("ln_f.weight", (E,)), ("ln_f.bias", (E,))]
os.makedirs(out, exist_ok=True)
shards, cur, size = [], [], 0
for n, s in names:
    b = int(np.prod(s)) * 4
    if cur and size + b > 2_000_000_000:
        shards.append(cur); cur, size = [], 0
    cur.append((n, s)); size += b
shards.append(cur)
weight_map, total = {}, 0
for k, group in enumerate(shards):
    fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
    save_safetensors(os.path.join(out, fname), {n: t(*s) for n, s in group}, {"format": "pt"})
    for n, s in group:
        weight_map[n] = fname
        total += int(np.prod(s)) * 4
json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=2)
json.dump({"model_type": "gpt2", "n_embd": E, "n_layer": L, "n_head": 32, "vocab_size": V, "n_positions": P, "n_inner": I},
          open(os.path.join(out, "config.json"), "w"), indent=2)
print(total)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-work", "scale"))
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the generated checkpoint for the next run")
    a = ap.parse_args()
    subprocess.run(["swift", "build", "-c", "release", "--product", "recast"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    recast = os.path.join(ROOT, ".build", "release", "recast")
    src = os.path.join(a.work, "src")
    os.makedirs(a.work, exist_ok=True)
    if not os.path.exists(os.path.join(src, "config.json")):
        subprocess.run([sys.executable, "-c", GENERATE, src, str(a.layers)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    index = json.load(open(os.path.join(src, "model.safetensors.index.json")))
    total = index["metadata"]["total_size"]
    largest = 0
    for shard in set(index["weight_map"].values()):
        with open(os.path.join(src, shard), "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        largest = max([largest] + [e["data_offsets"][1] - e["data_offsets"][0] for k, e in header.items() if k != "__metadata__"])
    print(f"checkpoint: {src}: {total / 1e9:.2f} GB in {len(set(index['weight_map'].values()))} shards, "
          f"{len(index['weight_map'])} tensors, largest {largest / 2**20:.0f} MiB")
    bound = largest + 256 * 2**20

    def out(name):
        return os.path.join(a.work, name)

    def clear(name):
        p = out(name)
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)

    rows = []
    t_cp, m_cp = run(["cp", "-r", src, out("copy")])
    clear("copy")
    rows.append(("cp -r (plain copy)", t_cp, m_cp))
    jobs = [
        ("inspect", [recast, "inspect", src, "--json"], None),
        ("convert --dtype bf16 (shards)", [recast, "convert", src, out("bf16"), "--dtype", "bf16"], "bf16"),
        ("convert → HDF5", [recast, "convert", src, out("model.h5")], None),
        ("convert HDF5 → shards", [recast, "convert", out("model.h5"), out("back")], "back"),
        ("swap --feature-map t2r", [recast, "swap", src, out("t2r"), "--feature-map", "t2r"], "t2r"),
    ]
    clear("model.h5")
    for label, cmd, name in jobs:
        if name:
            clear(name)
        t, m = run(cmd)
        if name:
            clear(name)
        rows.append((label, t, m))
    clear("model.h5")
    print()
    print(f"{'job':32} {'seconds':>8} {'× copy':>8} {'peak MiB':>9} {'bound MiB':>10}")
    for label, t, m in rows:
        within = "" if label.startswith("cp") else ("ok" if m <= bound else "OVER")
        print(f"{label:32} {t:8.2f} {t / t_cp:8.2f} {m / 2**20:9.0f} {bound / 2**20:10.0f}  {within}")
    if not a.keep:
        shutil.rmtree(src)


if __name__ == "__main__":
    main()
