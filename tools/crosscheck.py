#!/usr/bin/env python3
"""Cross-check helpers: what the Python libraries see in a checkpoint file.

    python3 tools/crosscheck.py dump PATH
    python3 tools/crosscheck.py values PATH NAME

PATH is a .safetensors file, a sharded checkpoint's index .json
(model.safetensors.index.json), an HDF5 file (detected by its signature, any
extension), or a model directory holding one of model.safetensors.index.json,
model.safetensors, tf_model.h5.

dump prints one JSON object on stdout:
  {"tensors": [{"name", "dtype", "shape", "sha256"}, ...],  sorted by name
   "metadata": {...}}
  * dtype is the safetensors code (BOOL, U8, ..., F32, BF16, F8_E4M3, F4, ...).
  * sha256 is over the tensor's raw bytes in little-endian byte order, C order
    (F4: the packed bytes as stored, two values a byte, first in the low nibble).
  * safetensors: metadata is the file's __metadata__ (or {}); for a sharded
    index it is the index's "metadata" object (e.g. {"total_size": N}).
  * HDF5: read with h5py. Every numeric dataset is listed, named by its path
    without the leading slash; groups are walked through hard links only (soft
    and external links are never followed). Numeric means: integer (I8..U64,
    either byte order), IEEE float 16/32/64 (either byte order) -> F16/F32/F64,
    the h5py bool enum (FALSE=0, TRUE=1 over a 1-byte int) -> BOOL, a 2-byte
    HDF5 float with bf16 fields (sign 15, exponent 7..14, mantissa 0..6, bias
    127) -> BF16, and a 2-byte opaque with attribute dtype == "bfloat16" (the
    Keras 3 convention) -> BF16. Everything else (strings, compound, vlen,
    references, other opaque / enum types, null dataspaces) is skipped.
    Scalar datasets have shape []. metadata holds the root group's attributes
    (bytes decoded as UTF-8; arrays as lists).

values prints the named tensor's values as a flat JSON list of float64 in C
order (BOOL as 0/1, integers converted to float64, C64 as interleaved
real, imaginary pairs). Non-finite values are printed as the strings "nan",
"inf", "-inf" so the output stays valid JSON.
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensorio import Raw, load_safetensors, load_sharded_index, sha256, to_float64  # noqa: E402

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: str) -> bool:
    try:
        import h5py
        return h5py.is_hdf5(path)
    except Exception:
        with open(path, "rb") as f:
            return f.read(8) == HDF5_SIGNATURE


def resolve(path: str) -> str:
    if os.path.isdir(path):
        for name in ("model.safetensors.index.json", "model.safetensors", "tf_model.h5"):
            p = os.path.join(path, name)
            if os.path.exists(p):
                return p
        raise SystemExit(f"{path}: no model.safetensors.index.json, model.safetensors or tf_model.h5")
    if not os.path.exists(path):
        raise SystemExit(f"{path}: no such file")
    return path


def jsonable(v):
    if isinstance(v, bytes):
        return v.decode("utf8", errors="replace")
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()] if v.dtype.kind in "SOU" else jsonable(v.tolist())
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return jsonable(v.item())
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


# ---------------------------------------------------------------------------
# HDF5
# ---------------------------------------------------------------------------

def _h5_code(ds):
    """Safetensors code of a numeric HDF5 dataset, or None."""
    import h5py
    h5t = h5py.h5t
    tid = ds.id.get_type()
    cls = tid.get_class()
    size = tid.get_size()
    if cls == h5t.INTEGER:
        signed = tid.get_sign() == h5t.SGN_2
        return {1: "I8", 2: "I16", 4: "I32", 8: "I64"}[size] if signed else \
            {1: "U8", 2: "U16", 4: "U32", 8: "U64"}[size]
    if cls == h5t.FLOAT:
        fields = tid.get_fields()
        ebias = tid.get_ebias()
        if size == 2 and fields == (15, 10, 5, 0, 10) and ebias == 15:
            return "F16"
        if size == 2 and fields == (15, 7, 8, 0, 7) and ebias == 127:
            return "BF16"
        if size == 4 and fields == (31, 23, 8, 0, 23) and ebias == 127:
            return "F32"
        if size == 8 and fields == (63, 52, 11, 0, 52) and ebias == 1023:
            return "F64"
        return None
    if cls == h5t.ENUM:
        if size != 1 or tid.get_nmembers() != 2:
            return None
        members = {tid.get_member_name(i): tid.get_member_value(i) for i in range(2)}
        return "BOOL" if members == {b"FALSE": 0, b"TRUE": 1} else None
    if cls == h5t.OPAQUE:
        if size == 2 and "dtype" in ds.attrs:
            a = ds.attrs["dtype"]
            a = a.decode() if isinstance(a, bytes) else str(a)
            if a == "bfloat16":
                return "BF16"
        return None
    return None


def _h5_raw(ds, code):
    """Little-endian raw bytes of a numeric dataset."""
    import h5py
    shape = ds.shape
    n = int(np.prod(shape)) if shape else 1
    if n == 0:
        return b""
    tid = ds.id.get_type()
    cls = tid.get_class()
    if code == "BOOL":
        buf = np.empty(shape, dtype=np.uint8)
        mtype = h5py.h5t.STD_U8LE
        ds.id.read(h5py.h5s.ALL, h5py.h5s.ALL, buf, mtype=mtype)
        return buf.tobytes()
    if code == "BF16" or cls == h5py.h5t.OPAQUE:
        buf = np.empty(shape, dtype=np.uint16)
        mtype = tid.copy()
        if cls == h5py.h5t.FLOAT:
            mtype.set_order(h5py.h5t.ORDER_LE)
        ds.id.read(h5py.h5s.ALL, h5py.h5s.ALL, buf, mtype=mtype)
        return buf.tobytes()
    arr = ds[()]
    arr = np.asarray(arr)
    le = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
    return np.ascontiguousarray(arr.astype(le)).tobytes()


def walk_h5(f):
    """Yield (path, dataset) for every dataset reachable through hard links."""
    import h5py
    seen = set()

    def rec(group, prefix):
        for name in sorted(group.keys()):
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                continue  # soft/external links are never followed
            obj = group.get(name)
            path = f"{prefix}{name}"
            addr = h5py.h5o.get_info(obj.id).addr
            if addr in seen:
                continue
            seen.add(addr)
            if isinstance(obj, h5py.Group):
                yield from rec(obj, path + "/")
            elif isinstance(obj, h5py.Dataset):
                yield path, obj

    yield from rec(f, "")


def load_h5(path):
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        meta = {k: jsonable(f.attrs[k]) for k in sorted(f.attrs.keys())}
        for name, ds in walk_h5(f):
            if ds.shape is None:  # null dataspace
                continue
            code = _h5_code(ds)
            if code is None:
                continue
            out[name] = Raw(code, list(ds.shape), _h5_raw(ds, code))
    return out, meta


# ---------------------------------------------------------------------------

def load_any(path):
    path = resolve(path)
    if path.endswith(".json"):
        return load_sharded_index(path)
    if is_hdf5(path):
        return load_h5(path)
    return load_safetensors(path)


def cmd_dump(path):
    tensors, meta = load_any(path)
    out = {
        "tensors": [
            {"name": n, "dtype": r.code, "shape": r.shape, "sha256": sha256(r.data)}
            for n, r in sorted(tensors.items())
        ],
        "metadata": jsonable(dict(sorted(meta.items()))),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


def cmd_values(path, name):
    tensors, _ = load_any(path)
    if name not in tensors:
        raise SystemExit(f"{path}: no tensor named {name!r}")
    r = tensors[name]
    vals = to_float64(r.code, r.shape, r.data).ravel()
    out = []
    for v in vals.tolist():
        if math.isnan(v):
            out.append("nan")
        elif math.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        else:
            out.append(v)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "dump":
        cmd_dump(argv[1])
        return 0
    if len(argv) == 3 and argv[0] == "values":
        cmd_values(argv[1], argv[2])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
