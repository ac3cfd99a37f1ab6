#!/usr/bin/env python3
"""Dequantisation speed: Recast (release build, one thread) against gguf-py's NumPy `gguf.quants.dequantize`
on the same bytes (best of 5 each): random blocks of every type Recast decodes (4 Mi elements each), and the
real SmolLM2 GGUF's Q8_0 embedding and first Q4_1 tensors when tools/models.py can locate it.

  swiftc -O -wmo -parse-as-library -module-name Quantization -o /tmp/bench_quant Sources/Quantization/*.swift tools/bench_quant_main.swift
  python3 tools/bench_quant.py [/tmp/bench_quant]"""
import os, subprocess, sys, tempfile, time
import numpy as np
from gguf import GGMLQuantizationType as T, GGML_QUANT_SIZES, GGUFReader
import gguf.quants
sys.path.insert(0, os.path.dirname(__file__))
from quant_reference import SCALE_FIELDS, random_blocks

binary = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench_quant"
folder = tempfile.mkdtemp(prefix="bench-quant-")
rng = np.random.default_rng(5)
cases = []  # (file, type name, bytes)
for name in SCALE_FIELDS:
    block, size = GGML_QUANT_SIZES[T[name]]
    cases.append((name + ".bin", name, random_blocks(name, (4 << 20) // block, rng)))
located = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "models.py"), "smollm2-gguf"],
                         capture_output=True, text=True)
if located.returncode == 0:
    reader = GGUFReader(located.stdout.strip())
    for t in reader.tensors[:3]:
        if t.tensor_type.name in SCALE_FIELDS:
            cases.append((t.name + ".bin", t.tensor_type.name, np.asarray(t.data).view(np.uint8).reshape(-1)))
python_times = {}
for file, name, data in cases:
    data.tofile(os.path.join(folder, file))
    best = 1e9
    for _ in range(5):
        start = time.perf_counter(); gguf.quants.dequantize(data, T[name]); best = min(best, time.perf_counter() - start)
    python_times[file] = best
with open(os.path.join(folder, "list.txt"), "w") as f:
    f.write("\n".join(f"{file} {name}" for file, name, _ in cases) + "\n")
swift = dict(line.split() for line in subprocess.run([binary, folder], capture_output=True, text=True, check=True).stdout.split("\n") if line)
print(f"{'bytes of':28} {'type':7} {'elements':>10} {'gguf-py ms':>10} {'Recast ms':>10} {'ratio':>6}")
for file, name, data in cases:
    n = data.size // GGML_QUANT_SIZES[T[name]][1] * GGML_QUANT_SIZES[T[name]][0]
    p, s = python_times[file] * 1e3, float(swift[file]) * 1e3
    print(f"{file[:-4]:28} {name:7} {n:10} {p:10.1f} {s:10.2f} {s / p:6.3f}")
for file, _, _ in cases:
    os.remove(os.path.join(folder, file))
os.remove(os.path.join(folder, "list.txt")); os.rmdir(folder)
