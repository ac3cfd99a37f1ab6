#!/usr/bin/env python3
"""Checkpoint IO benchmark: Recast against its peers, measured side by side in one run.

    python3 tools/bench_io.py [--size-gb 1.1] [--repeat 3] [--work bench-work]

Builds Recast in release mode, writes a synthetic f32 safetensors checkpoint of at least 1 GB with
Python's safetensors, then times whole processes (best of --repeat, warm page cache for all):

  inspect     `recast inspect --json`      vs  Python safetensors listing names and shapes
  bf16        `recast convert --dtype bf16` vs Python (safetensors + NumPy round-to-nearest-even)
              and vs a plain copy of the file (`cp`)
  hdf5        `recast convert SRC DST.h5`  vs  an h5py script writing the same datasets
  h5 inspect  `recast inspect --json` of that .h5  vs  h5py listing names, dtypes and shapes
  h5 read     `recast convert X.h5 Y.safetensors` (Recast's own HDF5 parser)  vs  h5py reading every
              dataset and Python safetensors writing them

and the peak resident memory of each `recast convert` against the largest tensor (from wait4's
ru_maxrss). Prints a table of seconds and ratios; the README keeps the figures.
"""
import argparse
import os
import shutil
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from benchlib import run  # noqa: E402

PY_INSPECT = r"""
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="numpy") as f:
    for k in f.keys():
        s = f.get_slice(k)
        print(k, s.get_dtype(), s.get_shape())
"""

PY_BF16 = r"""
import sys, numpy as np
from safetensors import safe_open, serialize_file, TensorSpec
keep, specs = [], {}
with safe_open(sys.argv[1], framework="numpy") as f:
    meta = f.metadata()
    for k in f.keys():
        a = f.get_tensor(k)
        if a.dtype == np.float32:
            bits = a.view(np.uint32)
            out = ((bits + (np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1)))) >> 16).astype(np.uint16)
            nan = np.isnan(a)
            if nan.any():
                out[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
            dtype = "bfloat16"
        else:
            out, dtype = a, str(a.dtype)
        out = np.ascontiguousarray(out)
        keep.append(out)
        specs[k] = TensorSpec(dtype=dtype, shape=list(a.shape), data_ptr=int(out.ctypes.data), data_len=out.nbytes)
serialize_file(specs, sys.argv[2], metadata=meta)
"""

PY_H5 = r"""
import sys, h5py
from safetensors import safe_open
with safe_open(sys.argv[1], framework="numpy") as f, h5py.File(sys.argv[2], "w") as h:
    for k, v in (f.metadata() or {}).items():
        h.attrs[k] = v
    for k in f.keys():
        h.create_dataset(k, data=f.get_tensor(k))
"""

PY_H5_INSPECT = r"""
import sys, h5py
def show(name, obj):
    if isinstance(obj, h5py.Dataset):
        print(name, obj.dtype, obj.shape)
with h5py.File(sys.argv[1], "r") as h:
    h.visititems(show)
"""

PY_H5_READ = r"""
import sys, h5py, numpy as np
from safetensors.numpy import save_file
tensors = {}
def take(name, obj):
    if isinstance(obj, h5py.Dataset):
        tensors[name] = obj[()]
with h5py.File(sys.argv[1], "r") as h:
    h.visititems(take)
    meta = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in h.attrs.items()}
save_file(tensors, sys.argv[2], metadata=meta)
"""


GENERATE = r"""
import sys
import numpy as np
sys.path.insert(0, "tools")
from tensorio import save_safetensors  # safetensors' own serializer
rng = np.random.default_rng(0)
tensors = {}
for i in range(int(sys.argv[2])):
    tensors[f"layers.{i}.weight"] = rng.standard_normal((4096, 4096), dtype=np.float32)
    tensors[f"layers.{i}.bias"] = rng.standard_normal(4096, dtype=np.float32)
    tensors[f"layers.{i}.steps"] = np.arange(16, dtype=np.int64)
save_safetensors(sys.argv[1], tensors, {"format": "pt"})
"""


def best(cmd, repeat, before=None):
    times, peaks = [], []
    for _ in range(repeat):
        if before:
            before()
        t, m = run(cmd)
        times.append(t)
        peaks.append(m)
    return min(times), max(peaks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-gb", type=float, default=1.1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-work"))
    a = ap.parse_args()

    subprocess.run(["swift", "build", "-c", "release", "--product", "recast"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    recast = os.path.join(ROOT, ".build", "release", "recast")
    os.makedirs(a.work, exist_ok=True)
    src = os.path.join(a.work, "model.safetensors")

    # 4096×4096 f32 tensors (64 MiB each) plus small ones, like a transformer's layers.
    big = 4096 * 4096 * 4
    n_big = max(1, int(a.size_gb * 1e9 // big) + 1)
    if not os.path.exists(src) or os.path.getsize(src) < n_big * big:
        # In a child process: ru_maxrss carries a parent's high-water mark across fork and exec, so the
        # measuring process must stay small.
        subprocess.run([sys.executable, "-c", GENERATE, src, str(n_big)], check=True)
    size = os.path.getsize(src)
    largest = big
    print(f"input: {src}: {size / 1e9:.2f} GB, {3 * n_big} tensors, largest {largest / 2**20:.0f} MiB")

    out = os.path.join(a.work, "out")

    def clean():
        for name in os.listdir(a.work):
            if name.startswith("out") or name.startswith(".out"):
                p = os.path.join(a.work, name)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)

    # Warm the page cache so every contender reads from memory.
    run(["cat", src])

    rows = []
    t_ri, _ = best([recast, "inspect", src, "--json"], a.repeat)
    t_pi, _ = best([sys.executable, "-c", PY_INSPECT, src], a.repeat)
    rows.append(("inspect", "recast inspect --json", t_ri, "python safetensors listing", t_pi))

    t_rb, m_rb = best([recast, "convert", src, out + ".safetensors", "--dtype", "bf16", "--force"], a.repeat, clean)
    t_pb, m_pb = best([sys.executable, "-c", PY_BF16, src, out + ".py.safetensors"], a.repeat, clean)
    t_cp, _ = best(["cp", src, out + ".copy"], a.repeat, clean)
    rows.append(("bf16", "recast convert --dtype bf16", t_rb, "python safetensors + numpy", t_pb))
    rows.append(("bf16", "recast convert --dtype bf16", t_rb, "cp (plain copy)", t_cp))

    t_rh, m_rh = best([recast, "convert", src, out + ".h5", "--force"], a.repeat, clean)
    t_ph, m_ph = best([sys.executable, "-c", PY_H5, src, out + ".py.h5"], a.repeat, clean)
    rows.append(("hdf5", "recast convert → .h5", t_rh, "h5py script", t_ph))
    clean()

    # Reading HDF5: one .h5 of the same tensors, read by Recast's own parser and by h5py.
    h5 = os.path.join(a.work, "model.h5")
    if not os.path.exists(h5) or os.path.getmtime(h5) < os.path.getmtime(src):
        subprocess.run([recast, "convert", src, h5, "--force"], check=True, stdout=subprocess.DEVNULL)
    run(["cat", h5])
    t_rhi, _ = best([recast, "inspect", h5, "--json"], a.repeat)
    t_phi, _ = best([sys.executable, "-c", PY_H5_INSPECT, h5], a.repeat)
    rows.append(("h5 list", "recast inspect --json (.h5)", t_rhi, "h5py listing", t_phi))
    t_rhr, m_rhr = best([recast, "convert", h5, out + ".safetensors", "--force"], a.repeat, clean)
    t_phr, m_phr = best([sys.executable, "-c", PY_H5_READ, h5, out + ".py.safetensors"], a.repeat, clean)
    rows.append(("h5 read", "recast convert .h5 → .safetensors", t_rhr, "h5py + safetensors", t_phr))
    clean()

    print()
    print(f"{'job':8} {'recast':34} {'s':>7}   {'peer':28} {'s':>7}   recast/peer")
    for job, ours, t1, peer, t2 in rows:
        print(f"{job:8} {ours:34} {t1:7.3f}   {peer:28} {t2:7.3f}   {t1 / t2:6.3f}")
    print()
    print("peak resident memory (largest tensor = %.0f MiB):" % (largest / 2**20))
    for label, m in [("recast convert --dtype bf16", m_rb), ("recast convert → .h5", m_rh),
                     ("recast convert .h5 → .safetensors", m_rhr),
                     ("python bf16 peer", m_pb), ("h5py peer", m_ph), ("h5py read peer", m_phr)]:
        print(f"  {label:30} {m / 2**20:8.0f} MiB   ({(m - largest) / 2**20:+.0f} MiB over the largest tensor)")


if __name__ == "__main__":
    main()
