#!/usr/bin/env python3
"""GGUF benchmark: Recast against llama.cpp's own Python package (gguf-py), measured side by side in one
run on the real SmolLM2-135M-Instruct GGUF (Q4_1 linear weights, Q8_0 embedding, F32 norms).

    python3 tools/bench_gguf.py [--gguf FILE] [--repeat 3] [--work bench-work/gguf] [--keep]

  inspect   `recast inspect X.gguf --json`  vs  gguf-py's GGUFReader opening the file and listing every
            tensor's name, type and shape
  convert   `recast convert X.gguf OUT/` (a Hugging Face folder, f32)  vs  gguf-py + NumPy + safetensors
            doing the same (tools/models.py's `fill_smollm2`: every tensor dequantised with
            gguf.quants.dequantize, renamed to Hugging Face names, llama.cpp's q/k row permutation undone,
            model.safetensors written in f32, with config.json and tokenizer.json built from the metadata);
            the tensors of both folders are then compared bit for bit

Release build; best of --repeat whole processes (warm page cache), with the CPU time (user + system) of
that run and the peak resident memory (wait4's ru_maxrss) of each side. The issue's goal: Recast at most
0.2× the Python time. Until `recast convert` reads GGUF, the convert row says the Recast side is not
available. OPENBLAS_CORETYPE, which NumPy's OpenBLAS reads, is printed with the figures.
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

PEER_INSPECT = r"""
import sys
from gguf import GGUFReader
r = GGUFReader(sys.argv[1])
for t in r.tensors:
    print(t.name, t.tensor_type.name, list(reversed([int(d) for d in t.shape])))
"""

PEER_CONVERT = r"""
import os, sys
sys.path.insert(0, sys.argv[3])
import models
os.makedirs(sys.argv[2], exist_ok=True)
models.fill_smollm2(sys.argv[2], sys.argv[1])
"""

# Largest tensor in f32, and the tensors of two folders compared bit for bit (in a child process, after
# the measurements: ru_maxrss carries a parent's high-water mark across fork and exec).
LARGEST = r"""
import sys
from gguf import GGUFReader
print(max(int(t.n_elements) for t in GGUFReader(sys.argv[1]).tensors) * 4)
"""

COMPARE = r"""
import glob, os, sys
from safetensors.numpy import load_file
def folder(path):
    tensors = {}
    for f in sorted(glob.glob(os.path.join(path, "*.safetensors"))):
        tensors.update(load_file(f))
    return tensors
ours, theirs = folder(sys.argv[1]), folder(sys.argv[2])
if sorted(ours) != sorted(theirs):
    sys.exit(f"tensor names differ: only in recast {sorted(set(ours) - set(theirs))[:5]}, only in python {sorted(set(theirs) - set(ours))[:5]}")
bad = [k for k in ours if ours[k].dtype != theirs[k].dtype or ours[k].shape != theirs[k].shape
       or ours[k].tobytes() != theirs[k].tobytes()]
print(f"{len(ours)} tensors, {len(bad)} differ" + (f": {bad[:5]}" if bad else ", all bit-identical"))
"""


def best(cmd, repeat, before=None):
    """Best wall-clock seconds of `repeat` whole processes, the CPU seconds (user + system) of that run,
    and the largest peak resident memory of all runs."""
    results, peak = [], 0
    for _ in range(repeat):
        if before:
            before()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, rss = run(cmd)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        results.append((wall, (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)))
        peak = max(peak, rss)
    wall, cpu = min(results)
    return wall, cpu, peak


def recast_convert_available(recast, gguf, out):
    """Whether `recast convert X.gguf OUT/` writes a Hugging Face folder in this build (config.json and
    tokenizer.json beside the weights); otherwise why not. A build whose convert only copies the GGUF's
    tensors as they are (llama.cpp names, quantised blocks) into safetensors does not count."""
    p = subprocess.run([recast, "convert", gguf, out, "--force"], capture_output=True, text=True)
    if p.returncode != 0:
        return False, (p.stderr.strip().splitlines() or ["exit status %d" % p.returncode])[0]
    missing = [f for f in ("config.json", "tokenizer.json") if not os.path.exists(os.path.join(out, f))]
    if missing:
        return False, f"it wrote no {' or '.join(missing)} (not yet a Hugging Face folder)"
    return True, ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", help="a llama GGUF (default: the SmolLM2 GGUF of tools/models.py)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-work", "gguf"))
    ap.add_argument("--keep", action="store_true", help="keep the converted folders")
    a = ap.parse_args()

    subprocess.run(["swift", "build", "-c", "release", "--product", "recast"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    recast = os.path.join(ROOT, ".build", "release", "recast")
    gguf = a.gguf or subprocess.run([sys.executable, os.path.join(ROOT, "tools", "models.py"), "smollm2-gguf"],
                                    check=True, capture_output=True, text=True).stdout.strip()
    os.makedirs(a.work, exist_ok=True)
    largest = int(subprocess.run([sys.executable, "-c", LARGEST, gguf], check=True, capture_output=True,
                                 text=True).stdout)
    print(f"input: {gguf}: {os.path.getsize(gguf) / 1e6:.1f} MB, largest tensor {largest / 2**20:.0f} MiB in f32; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    run(["cat", gguf])  # warm the page cache: every contender reads from memory

    rows = []
    rows.append(("inspect", "recast inspect --json", best([recast, "inspect", gguf, "--json"], a.repeat),
                 "gguf-py GGUFReader listing", best([sys.executable, "-c", PEER_INSPECT, gguf], a.repeat)))

    out_recast, out_python = os.path.join(a.work, "recast-hf"), os.path.join(a.work, "python-hf")

    def clean(folder):
        return lambda: shutil.rmtree(folder, ignore_errors=True)

    available, why = recast_convert_available(recast, gguf, out_recast)
    ours = best([recast, "convert", gguf, out_recast, "--force"], a.repeat, clean(out_recast)) if available else None
    peer = best([sys.executable, "-c", PEER_CONVERT, gguf, out_python, os.path.join(ROOT, "tools")], a.repeat,
                clean(out_python))
    rows.append(("convert", "recast convert X.gguf OUT/", ours, "gguf-py + NumPy + safetensors", peer))

    print()
    print(f"| job | recast | s | CPU s | peak MiB | peer | s | CPU s | peak MiB | recast / peer |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for job, name, mine, peer_name, theirs in rows:
        if mine is None:
            print(f"| {job} | {name} | not available | | | {peer_name} | {theirs[0]:.3f} | {theirs[1]:.2f} | "
                  f"{theirs[2] / 2**20:.0f} | |")
            continue
        print(f"| {job} | {name} | {mine[0]:.3f} | {mine[1]:.2f} | {mine[2] / 2**20:.0f} | {peer_name} | "
              f"{theirs[0]:.3f} | {theirs[1]:.2f} | {theirs[2] / 2**20:.0f} | {mine[0] / theirs[0]:.3f} |")
    if not available:
        print(f"\nthe Recast side of convert is not available in this build: {why}")
    else:
        compare = subprocess.run([sys.executable, "-c", COMPARE, out_recast, out_python], capture_output=True, text=True)
        print(f"\nconvert, the tensors of recast's folder against python's: {(compare.stdout + compare.stderr).strip()}")
    if not a.keep:
        shutil.rmtree(a.work, ignore_errors=True)


if __name__ == "__main__":
    main()
