#!/usr/bin/env python3
"""Reference data for GGML block quantisation, from gguf-py's NumPy code (gguf 0.19.0), for QuantizationTests.

  quant_reference.py dequant OUTDIR   for each type: OUTDIR/T.blocks (random blocks) and OUTDIR/T.f32
                                      (gguf.quants.dequantize of them, little-endian f32)
  quant_reference.py quant OUTDIR     for each type: OUTDIR/T.input (f32 values) and OUTDIR/T.quant
                                      (gguf.quants.quantize of them)
  quant_reference.py tensors GGUF OUTDIR [N]   the first N (default all) quantised tensors of a GGUF file:
                                      OUTDIR/i.blocks, OUTDIR/i.f32
Prints a JSON list of {"type", "blocks"/"elements", "name"} for what it wrote. Seeded: the same run gives
the same bytes.

The blocks are random bytes, then each f16 scale field is set: a few blocks carry the edge cases (±0,
subnormals, the largest finite value, ±infinity, quiet and signalling NaNs with payloads), most a random
normal scale, and the last tenth keep their random bytes (any f16 at all)."""
import json, os, sys, warnings
import numpy as np
from gguf import GGMLQuantizationType as T, GGML_QUANT_SIZES
import gguf.quants

warnings.filterwarnings("ignore")  # NumPy's overflow warnings on inf/NaN scales; the values are the point

# Byte offsets of the f16 scale fields of each type's block (read from gguf-py's dequantize_blocks).
SCALE_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
    "IQ4_NL": [0], "IQ4_XS": [0], "TQ1_0": [52], "TQ2_0": [64],
    "MXFP4": [],  # one E8M0 exponent byte: every value 0…255 appears (see below)
}
QUANTIZABLE = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]

EDGE_HALVES = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0xFBFF, 0x3C00,
               0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE01, 0x7FFF, 0xFDFF]


def random_blocks(name, n_blocks, rng):
    size = GGML_QUANT_SIZES[T[name]][1]
    data = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    fields = SCALE_FIELDS[name]
    keep_random = n_blocks - n_blocks // 10
    for b in range(keep_random):
        for k, off in enumerate(fields):
            if b < len(EDGE_HALVES) * len(fields):
                bits = EDGE_HALVES[(b + 5 * k) % len(EDGE_HALVES)]
            else:
                bits = int(np.float16(rng.normal() * 10.0 ** rng.uniform(-5, 1)).view(np.uint16))
            data[b, off:off + 2] = np.array([bits], dtype="<u2").view(np.uint8)
    if name == "MXFP4":
        data[:256, 0] = np.arange(256, dtype=np.uint8)
    return data.reshape(-1)


def quant_inputs(rng, n_blocks=256):
    x = (rng.normal(size=(n_blocks, 32)) * 10.0 ** rng.uniform(-6, 3, size=(n_blocks, 1))).astype(np.float32)
    x[0] = 0                                                     # all zero: d = 0
    x[1] = 3.25                                                  # constant
    x[2] = np.arange(32, dtype=np.float32) - 16.5               # ties at .5 after scaling
    x[3] = np.linspace(-127, 127, 32, dtype=np.float32).round() + 0.5
    x[3, 0] = -127
    x[4] = -np.abs(x[4])                                         # the extreme is negative
    x[5] *= np.float32(1e-40)                                    # subnormal f32 inputs
    x[6] *= np.float32(1e7)                                      # scales that overflow f16
    x[7] = np.float32(-8) + np.arange(32, dtype=np.float32) * np.float32(0.5)
    x[8, :16] = 1; x[8, 16:] = -1                                # ties between equal magnitudes
    return x.reshape(-1)


def write(path, arr):
    with open(path, "wb") as f:
        f.write(np.ascontiguousarray(arr).tobytes())


def main():
    mode, out = sys.argv[1], sys.argv[-1] if sys.argv[1] != "tensors" else sys.argv[3]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(11)
    listing = []
    if mode == "dequant":
        for name in SCALE_FIELDS:
            block_size = GGML_QUANT_SIZES[T[name]][0]
            n_blocks = 512 if block_size == 32 else 128
            data = random_blocks(name, n_blocks, rng)
            values = gguf.quants.dequantize(data, T[name])
            assert values.dtype == np.float32 and values.size == n_blocks * block_size
            write(os.path.join(out, name + ".blocks"), data)
            write(os.path.join(out, name + ".f32"), values.astype("<f4"))
            listing.append({"type": name, "blocks": n_blocks})
    elif mode == "quant":
        for name in QUANTIZABLE:
            x = quant_inputs(rng)
            q = gguf.quants.quantize(x, T[name])
            write(os.path.join(out, name + ".input"), x.astype("<f4"))
            write(os.path.join(out, name + ".quant"), q)
            listing.append({"type": name, "elements": int(x.size)})
    elif mode == "tensors":
        from gguf import GGUFReader
        limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
        reader = GGUFReader(sys.argv[2])
        for t in reader.tensors:
            if t.tensor_type.name not in SCALE_FIELDS or (limit is not None and len(listing) >= limit):
                continue
            data = np.asarray(t.data).view(np.uint8).reshape(-1)
            values = gguf.quants.dequantize(data, t.tensor_type)
            i = len(listing)
            write(os.path.join(out, f"{i}.blocks"), data)
            write(os.path.join(out, f"{i}.f32"), values.astype("<f4"))
            listing.append({"type": t.tensor_type.name, "name": t.name,
                            "blocks": int(data.size // GGML_QUANT_SIZES[t.tensor_type][1])})
    else:
        sys.exit(f"unknown mode {mode!r}: dequant, quant or tensors")
    print(json.dumps(listing))


if __name__ == "__main__":
    main()
