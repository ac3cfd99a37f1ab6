"""Shared tensor I/O helpers for the Recast Python tools.

Everything here is written against the reference Python libraries
(safetensors' own serializer/deserializer, h5py) plus NumPy; nothing is
shared with the Swift implementation.

* Safetensors dtype codes ("F32", "BF16", "F8_E4M3", ...) are the canonical
  dtype names throughout the tools.
* `save_safetensors` writes through `safetensors.serialize_file` (the
  low-level API that takes a dtype name and a raw buffer), so every dtype the
  installed safetensors supports can be written, including BF16 and F8 types,
  without ml_dtypes or torch.
* `load_safetensors` reads through `safetensors.deserialize` (raw bytes per
  tensor) and `safe_open(...).metadata()`.
* `to_float64` decodes raw little-endian bytes of any code to float64,
  including BF16, the F8 family and F4 (E2M1, two values per byte, the FIRST
  element in the LOW nibble - the OCP MX / PyTorch float4_e2m1fn_x2 packing).
* `f32_to_bf16_bits` is round-to-nearest-even from float32 (NaN kept quiet).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, Iterable, Optional, Tuple

import numpy as np
from safetensors import TensorSpec, deserialize, safe_open, serialize_file

# safetensors header code -> TensorSpec dtype name accepted by serialize_file.
CODE_TO_SPEC = {
    "BOOL": "bool",
    "U8": "uint8",
    "I8": "int8",
    "I16": "int16",
    "U16": "uint16",
    "I32": "int32",
    "U32": "uint32",
    "I64": "int64",
    "U64": "uint64",
    "F16": "float16",
    "BF16": "bfloat16",
    "F32": "float32",
    "F64": "float64",
    "C64": "complex64",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz",
    "F8_E8M0": "float8_e8m0fnu",
    "F4": "float4_e2m1fn_x2",
}

# Bits per element of every code (F6 codes are listed for completeness; the
# installed safetensors cannot write them).
CODE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "I16": 16, "U16": 16, "I32": 32, "U32": 32,
    "I64": 64, "U64": 64, "F16": 16, "BF16": 16, "F32": 32, "F64": 64,
    "C64": 64, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}

# Codes that map one-to-one onto a NumPy dtype (little endian).
CODE_TO_NUMPY = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype("<u1"),
    "I8": np.dtype("<i1"),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "C64": np.dtype("<c8"),
}


def numpy_to_code(dt: np.dtype) -> Optional[str]:
    """Safetensors code for a plain NumPy dtype (any byte order), or None."""
    dt = np.dtype(dt)
    if dt.kind == "b":
        return "BOOL"
    le = dt.newbyteorder("<") if dt.byteorder not in ("|", "=") else dt
    for code, ndt in CODE_TO_NUMPY.items():
        if code == "BOOL":
            continue
        if le.kind == ndt.kind and le.itemsize == ndt.itemsize:
            return code
    return None


def supported_codes() -> Iterable[str]:
    return CODE_TO_SPEC.keys()


# ---------------------------------------------------------------------------
# bf16
# ---------------------------------------------------------------------------

def f32_to_bf16_bits(x) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even."""
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    bits = a.view(np.uint32).astype(np.uint64)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    out = ((bits + rounding) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        out = np.where(nan, ((bits >> 16) | 0x40).astype(np.uint16), out)
    return out.astype("<u2")


def bf16_bits_to_f32(bits) -> np.ndarray:
    b = np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16
    return b.view(np.float32)


def round_to_bf16(x) -> np.ndarray:
    """float -> nearest-even bf16 value, returned as float32."""
    return bf16_bits_to_f32(f32_to_bf16_bits(np.asarray(x, dtype=np.float32)))


# ---------------------------------------------------------------------------
# Minifloats (F8 family, F4 E2M1): decode tables built from the definitions.
# ---------------------------------------------------------------------------

def _minifloat_table(ebits: int, mbits: int, bias: int, kind: str) -> np.ndarray:
    """Decode table for every bit pattern of a 1+ebits+mbits format.

    kind: "ieee" (all-ones exponent = inf/NaN), "fn" (no inf; only
    all-ones exponent+mantissa is NaN), "fnuz" (no inf, no -0; the pattern
    1000...0 is the only NaN).
    """
    n = 1 << (1 + ebits + mbits)
    table = np.zeros(n, dtype=np.float64)
    emax = (1 << ebits) - 1
    mmax = (1 << mbits) - 1
    for code in range(n):
        s = code >> (ebits + mbits)
        e = (code >> mbits) & emax
        m = code & mmax
        sign = -1.0 if s else 1.0
        if kind == "fnuz" and code == (1 << (ebits + mbits)):
            table[code] = np.nan
            continue
        if kind == "ieee" and e == emax:
            table[code] = sign * np.inf if m == 0 else np.nan
            continue
        if kind == "fn" and e == emax and m == mmax:
            table[code] = np.nan
            continue
        if e == 0:
            v = (m / (1 << mbits)) * 2.0 ** (1 - bias)
        else:
            v = (1 + m / (1 << mbits)) * 2.0 ** (e - bias)
        table[code] = sign * v
    return table


def _e8m0_table() -> np.ndarray:
    t = np.array([2.0 ** (e - 127) for e in range(256)], dtype=np.float64)
    t[255] = np.nan
    return t


MINIFLOAT_TABLES = {
    "F8_E4M3": _minifloat_table(4, 3, 7, "fn"),
    "F8_E5M2": _minifloat_table(5, 2, 15, "ieee"),
    "F8_E4M3FNUZ": _minifloat_table(4, 3, 8, "fnuz"),
    "F8_E5M2FNUZ": _minifloat_table(5, 2, 16, "fnuz"),
    "F8_E8M0": _e8m0_table(),
    "F4": _minifloat_table(2, 1, 1, "fn_noinf_nonan"),
}


def encode_exact(code: str, values) -> bytes:
    """Encode values that are exactly representable in a minifloat code.

    Raises if a value is not representable. Zero encodes as +0. F4 packs two
    elements per byte, first element in the low nibble (count must be even).
    """
    table = MINIFLOAT_TABLES[code]
    out = []
    for v in np.asarray(values, dtype=np.float64).ravel():
        hits = [i for i in range(len(table)) if table[i] == v and not (v == 0 and i != 0)]
        if not hits:
            raise ValueError(f"{v} not representable in {code}")
        out.append(hits[0])
    if code == "F4":
        if len(out) % 2:
            raise ValueError("F4 needs an even element count")
        packed = [out[i] | (out[i + 1] << 4) for i in range(0, len(out), 2)]
        return bytes(packed)
    return bytes(out)


# ---------------------------------------------------------------------------
# Decoding raw little-endian bytes
# ---------------------------------------------------------------------------

def to_float64(code: str, shape, raw: bytes) -> np.ndarray:
    """Decode raw C-order little-endian bytes of a safetensors code to float64.

    C64 gives an array of shape shape+[2] (real, imaginary).
    """
    shape = tuple(int(s) for s in shape)
    if code in CODE_TO_NUMPY:
        arr = np.frombuffer(raw, dtype=CODE_TO_NUMPY[code]).reshape(shape)
        if code == "C64":
            return np.stack([arr.real, arr.imag], axis=-1).astype(np.float64)
        return arr.astype(np.float64)
    if code == "BF16":
        return bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2")).astype(np.float64).reshape(shape)
    if code == "F4":
        b = np.frombuffer(raw, dtype=np.uint8)
        codes = np.empty(b.size * 2, dtype=np.uint8)
        codes[0::2] = b & 0x0F
        codes[1::2] = b >> 4
        return MINIFLOAT_TABLES["F4"][codes].reshape(shape)
    if code in MINIFLOAT_TABLES:
        return MINIFLOAT_TABLES[code][np.frombuffer(raw, dtype=np.uint8)].reshape(shape)
    raise ValueError(f"cannot decode dtype {code}")


# ---------------------------------------------------------------------------
# safetensors read/write
# ---------------------------------------------------------------------------

class Raw:
    """A tensor given as (code, shape, raw little-endian bytes)."""

    def __init__(self, code: str, shape, data: bytes):
        self.code = code
        self.shape = [int(s) for s in shape]
        self.data = bytes(data)


def as_raw(value) -> Raw:
    if isinstance(value, Raw):
        return value
    arr = np.asarray(value)
    code = numpy_to_code(arr.dtype)
    if code is None:
        raise ValueError(f"no safetensors code for {arr.dtype}")
    le = arr.astype(CODE_TO_NUMPY[code], copy=False) if code != "BOOL" else arr.astype(np.bool_)
    return Raw(code, arr.shape, np.ascontiguousarray(le).tobytes())


def save_safetensors(path: str, tensors: Dict[str, object], metadata: Optional[Dict[str, str]] = None) -> None:
    """Write tensors (NumPy arrays or Raw) with safetensors.serialize_file."""
    keep = []
    specs = {}
    for name, value in tensors.items():
        r = as_raw(value)
        buf = np.frombuffer(r.data, dtype=np.uint8) if r.data else np.zeros(1, dtype=np.uint8)
        keep.append(buf)
        shape = list(r.shape)
        if r.code == "F4":
            # TensorSpec takes the packed storage shape and doubles the last dim.
            shape = shape[:-1] + [shape[-1] // 2]
        specs[name] = TensorSpec(
            dtype=CODE_TO_SPEC[r.code],
            shape=shape,
            data_ptr=int(buf.ctypes.data),
            data_len=len(r.data),
        )
    tmp = path + ".tmp"
    serialize_file(specs, tmp, metadata=metadata)
    del keep
    if metadata and len(metadata) > 1:
        _sort_metadata_in_place(tmp)
    os.replace(tmp, path)


def _sort_metadata_in_place(path: str) -> None:
    """Make the __metadata__ key order deterministic.

    safetensors' Rust serializer keeps metadata in a HashMap, so with more than
    one key their order changes from run to run. Rewrite only that object with
    sorted keys (same keys and values, so the same byte length: offsets and
    padding are unchanged)."""
    with open(path, "r+b") as f:
        n = int.from_bytes(f.read(8), "little")
        header = f.read(n).decode("utf8")
        prefix = '{"__metadata__":'
        if not header.startswith(prefix):
            raise ValueError(f"{path}: unexpected header layout")
        meta, end = json.JSONDecoder().raw_decode(header, len(prefix))
        canon = json.dumps(dict(sorted(meta.items())), separators=(",", ":"), ensure_ascii=False)
        if len(canon.encode("utf8")) != len(header[len(prefix):end].encode("utf8")):
            raise ValueError(f"{path}: cannot canonicalise metadata")
        new = (prefix + canon + header[end:]).encode("utf8")
        f.seek(8)
        f.write(new)


def load_safetensors(path: str) -> Tuple[Dict[str, Raw], Dict[str, str]]:
    """Read every tensor of one .safetensors file as Raw, plus its metadata."""
    with open(path, "rb") as f:
        data = f.read()
    out = {}
    for name, info in deserialize(data):
        out[name] = Raw(info["dtype"], info["shape"], info["data"])
    with safe_open(path, framework="np") as f:
        meta = f.metadata() or {}
    return out, dict(meta)


def load_sharded_index(path: str) -> Tuple[Dict[str, Raw], Dict]:
    """Read a sharded checkpoint through its model.safetensors.index.json."""
    with open(path) as f:
        index = json.load(f)
    base = os.path.dirname(os.path.abspath(path))
    out = {}
    for shard in sorted(set(index["weight_map"].values())):
        tensors, _ = load_safetensors(os.path.join(base, shard))
        for name, r in tensors.items():
            if index["weight_map"].get(name) != shard:
                raise ValueError(f"{shard}: tensor {name} not mapped to this shard in {path}")
            out[name] = r
    missing = set(index["weight_map"]) - set(out)
    if missing:
        raise ValueError(f"{path}: tensors listed but not found: {sorted(missing)[:5]}")
    return out, index.get("metadata", {})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
