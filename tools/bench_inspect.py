#!/usr/bin/env python3
"""Benchmark: `recast inspect` of a safetensors file whose header is about 90 MB of long tensor names,
timed against Python's safetensors listing the names of the same file in the same run.

    python3 tools/bench_inspect.py [--work bench-work/inspect] [--tensors 100000] [--name-length 800] [--keep]

The names repeat over layers (`…{prefix}.layers.{i}.{part}`), so `inspect` folds them into groups; each
tensor holds one F32 value, so the file is almost all header. Release build; best of 3 whole processes,
with the CPU time (user + system) of that run beside the wall-clock time.
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from benchlib import run  # noqa: E402

GENERATE = r"""
import json, struct, sys
out, n, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
layers = 1000
prefix = ("model.encoder." + "very_long_module_name_" * (length // 22 + 1))[:length]
header, offset = {"__metadata__": {"format": "pt"}}, 0
for k in range(n):
    name = f"{prefix}.layers.{k % layers}.part_{k // layers}.weight"
    header[name] = {"dtype": "F32", "shape": [1], "data_offsets": [offset, offset + 4]}
    offset += 4
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    f.write(bytes(offset))
print(len(h))
"""

PEER = r"""
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], "np") as f:
    for name in f.keys():
        print(name)
"""


def best(cmd, repeat=3):
    """Best wall-clock seconds of `repeat` whole processes, and the CPU seconds (user + system) of that
    run: on a shared machine the CPU time is the steadier figure."""
    results = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, _ = run(cmd)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        results.append((wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)))
    return min(results)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-work", "inspect"))
    ap.add_argument("--tensors", type=int, default=100_000)
    ap.add_argument("--name-length", type=int, default=800)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    subprocess.run(["swift", "build", "-c", "release", "--product", "recast"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    recast = os.path.join(ROOT, ".build", "release", "recast")
    os.makedirs(args.work, exist_ok=True)
    path = os.path.join(args.work, "long-names.safetensors")
    header = int(subprocess.run([sys.executable, "-c", GENERATE, path, str(args.tensors), str(args.name_length)],
                                check=True, capture_output=True, text=True).stdout)
    print(f"{args.tensors} tensors, names of about {args.name_length} bytes, header {header / 1e6:.1f} MB")

    peer = best([sys.executable, "-c", PEER, path])
    rows = [
        ("recast inspect", best([recast, "inspect", path])),
        ("recast inspect --all", best([recast, "inspect", path, "--all"])),
        ("recast inspect --json", best([recast, "inspect", path, "--json"])),
    ]
    print("| job | recast | Python safetensors listing names | recast / peer | recast CPU | peer CPU |")
    print("|---|---|---|---|---|---|")
    for job, (t, cpu) in rows:
        print(f"| {job} | {t:.2f} s | {peer[0]:.2f} s | {t / peer[0]:.2f} | {cpu:.2f} s | {peer[1]:.2f} s |")
    if not args.keep:
        shutil.rmtree(args.work)


if __name__ == "__main__":
    main()
