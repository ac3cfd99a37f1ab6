#!/usr/bin/env python3
"""The jobs that once took time growing faster than their input, timed at three sizes against a peer.

    python3 tools/bench_slow.py [--scale 1.0] [--work bench-slow] [--no-build] [--jobs meta,tensors,fill]
                                [--before PATH]

Builds Recast in release mode (unless --no-build), writes the inputs with Python's safetensors, then
times whole processes, each once:

  meta      `recast convert X.safetensors Y.h5`, X's `__metadata__` of N keys (N = 250,000, 500,000,
            1,000,000 × scale)  vs  an h5py script writing the same root attributes
  tensors   the same for N tensors of 2 floats each (N = 125,000, 250,000, 500,000 × scale)  vs  h5py
            writing the same datasets
  fill      `recast convert` of a 1.4 kB .h5 declaring N float32 values never written (N = 250M,
            500M, 750M × scale: 1, 2, 3 GB) to safetensors  vs  `cp` of the output it wrote

For each job it prints seconds, the seconds per item, the growth from one size to the next (2.00 is
linear when N doubles), and the peer at the largest size. Peak memory of each Recast process is
printed too. --before PATH times another `recast` binary (an older build) on the same inputs in the
same run. Not run by the tests: the figures depend on the machine.
"""
import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from benchlib import run  # noqa: E402

MAKE_META = r"""
import sys, numpy as np
from safetensors.numpy import save_file
n = int(sys.argv[2])
save_file({'x': np.zeros(4, 'f4')}, sys.argv[1], metadata={f'key{i:07d}': f'value {i}' for i in range(n)})
"""

MAKE_TENSORS = r"""
import sys, numpy as np
from safetensors.numpy import save_file
n = int(sys.argv[2])
save_file({f't{i:07d}': np.full(2, i, 'f4') for i in range(n)}, sys.argv[1])
"""

PEER_META = r"""
import sys, h5py
from safetensors import safe_open
with safe_open(sys.argv[1], framework='numpy') as f:
    meta = f.metadata() or {}
    tensors = {k: f.get_tensor(k) for k in f.keys()}
with h5py.File(sys.argv[2], 'w', libver='latest') as out:
    for k, v in meta.items():
        out.attrs[k] = v
    for k, v in tensors.items():
        out[k] = v
"""

PEER_TENSORS = PEER_META

MAKE_FILL = r"""
import sys, h5py
with h5py.File(sys.argv[1], 'w') as f:
    f.create_dataset('declared', shape=(int(sys.argv[2]),), dtype='<f4', fillvalue=1.5)
"""


def python(script, *args):
    subprocess.run([sys.executable, "-c", script, *map(str, args)], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-slow"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--jobs", default="meta,tensors,fill")
    ap.add_argument("--before", help="another recast binary to time on the same inputs")
    args = ap.parse_args()
    jobs = args.jobs.split(",")
    recast = os.path.join(ROOT, ".build", "release", "recast")
    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--product", "recast"], cwd=ROOT, check=True)
    os.makedirs(args.work, exist_ok=True)

    def sizes(base):
        return [max(1, int(round(n * args.scale))) for n in base]

    rows = []
    header = ("job", "N", "recast s", "per item", "growth", "peak", "peer")
    print("  ".join(header), flush=True)

    def add(row):
        rows.append(row)
        print("  ".join(str(c) for c in row if c != ""), flush=True)

    def series(job, counts, make, peer, unit):
        times = []
        for n in counts:
            src = os.path.join(args.work, f"{job}-{n}.safetensors" if job != "fill" else f"{job}-{n}.h5")
            if not os.path.exists(src):
                python(make, src, n)
            dst = os.path.join(args.work, f"{job}-{n}.out" + (".safetensors" if job == "fill" else ".h5"))
            seconds, peak = run([recast, "convert", src, dst, "--force"])
            times.append(seconds)
            growth = f"{seconds / times[-2]:.2f}" if len(times) > 1 else ""
            add((job, f"{n:,}", f"{seconds:.2f}", f"{seconds / n * 1e6:.2f} µs/{unit}", growth,
                         f"{peak / 2**20:.0f} MiB", ""))
            if n == counts[-1]:
                if peer == "cp":
                    copy = dst + ".copy"
                    peer_seconds, _ = run(["cp", dst, copy])
                    os.remove(copy)
                    add((job, f"{n:,}", "", "", "", "", f"cp of the output: {peer_seconds:.2f} s"))
                else:
                    out = dst + ".h5py.h5"
                    peer_seconds, peer_peak = run([sys.executable, "-c", peer, src, out])
                    os.remove(out)
                    add((job, f"{n:,}", "", "", "", "",
                                 f"h5py: {peer_seconds:.2f} s, {peer_peak / 2**20:.0f} MiB; recast / h5py {seconds / peer_seconds:.2f}"))
            os.remove(dst)
            if args.before and job != "fill":
                before_seconds, before_peak = run([args.before, "convert", src, dst, "--force"])
                os.remove(dst)
                add((job + " (before)", f"{n:,}", f"{before_seconds:.2f}", f"{before_seconds / n * 1e6:.2f} µs/{unit}",
                             "", f"{before_peak / 2**20:.0f} MiB", f"after / before {seconds / before_seconds:.2f}"))

    if "meta" in jobs:
        series("meta", sizes([250_000, 500_000, 1_000_000]), MAKE_META, PEER_META, "key")
    if "tensors" in jobs:
        series("tensors", sizes([125_000, 250_000, 500_000]), MAKE_TENSORS, PEER_TENSORS, "tensor")
    if "fill" in jobs:
        series("fill", sizes([250_000_000, 500_000_000, 750_000_000]), MAKE_FILL, "cp", "value")

    print()
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
