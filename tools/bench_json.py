#!/usr/bin/env python3
"""JSON memory benchmark: peak memory of `recast inspect` and `recast convert` per byte of safetensors header.

    python3 tools/bench_json.py [--header-mb 99] [--short-names] [--recast PATH] [--work bench-work]

Writes a safetensors file whose header is about --header-mb MB (one f32 scalar per tensor, names of
about 75 characters, so roughly 790,000 tensors; or names such as t123 with --short-names, 1.4
million tensors), then runs `/usr/bin/time -v recast inspect FILE` and `recast convert FILE COPY`
and prints, for each, the header size, the peak resident memory, memory per header byte, and the
time. Builds Recast in release mode unless --recast names a binary (pass an older build to compare).
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_header_file(path, header_mb, short):
    entries = []
    size = 2
    i = 0
    while size < header_mb * 1_000_000:
        if short:
            name = f"t{i}"
        else:
            name = f"model.layers.{i // 64}.block_sparse_moe.experts.{i % 64}.w{i % 3}.weight_scale_inv"
        e = f'"{name}":{{"dtype":"F32","shape":[1],"data_offsets":[{4 * i},{4 * i + 4}]}}'
        entries.append(e)
        size += len(e) + 1
        i += 1
    header = ("{" + ",".join(entries) + "}").encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        f.write(b"\0" * (4 * i))
    return len(header), i


def measure(recast, args):
    r = subprocess.run(["/usr/bin/time", "-v", recast] + args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"recast {args[0]} failed ({r.returncode}): {r.stderr[-2000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", r.stderr).group(1)
    parts = [float(p) for p in wall.split(":")]
    seconds = sum(p * 60 ** k for k, p in enumerate(reversed(parts)))
    return rss_kb * 1024, seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--header-mb", type=float, default=99)
    ap.add_argument("--recast", help="a recast binary (default: build release)")
    ap.add_argument("--short-names", action="store_true", help="names such as t123 (structure-heavy headers)")
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-work"))
    args = ap.parse_args()
    recast = args.recast
    if not recast:
        subprocess.run(["swift", "build", "-c", "release", "--product", "recast"], cwd=ROOT, check=True)
        recast = os.path.join(ROOT, ".build", "release", "recast")
    os.makedirs(args.work, exist_ok=True)
    path = os.path.join(args.work, f"header-{args.header_mb:g}mb.safetensors")
    header_bytes, tensors = write_header_file(path, args.header_mb, args.short_names)
    out = path + ".out.safetensors"
    for job, job_args in [("inspect", ["inspect", path]), ("convert", ["convert", path, out])]:
        rss, seconds = measure(recast, job_args)
        print(json.dumps({"job": job, "short_names": args.short_names, "header_bytes": header_bytes, "tensors": tensors,
                          "peak_rss_bytes": rss, "bytes_per_header_byte": round(rss / header_bytes, 2),
                          "seconds": round(seconds, 2), "recast": recast}))
    os.remove(out)
    os.remove(path)


if __name__ == "__main__":
    main()
