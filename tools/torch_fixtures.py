#!/usr/bin/env python3
"""PyTorch checkpoints written by real `torch.save` (torch 2.13 CPU), for the tests of Recast's pickle reader.

    python3 tools/torch_fixtures.py DIR
    python3 tools/torch_fixtures.py --model MODEL_FOLDER DIR

The second form loads a real model folder (e.g. all-MiniLM-L6-v2) with transformers' AutoModel and writes
DIR/pytorch_model.bin (torch.save of its state_dict, zip format), DIR/config.json and, beside DIR,
DIR.expected.safetensors, and prints {"path", "expected"}. The first form
writes into DIR, in one process (importing torch costs seconds):

- every case below twice: `NAME.pt` in the zip format (torch's default) and `NAME-legacy.pth` in the legacy
  format (`_use_new_zipfile_serialization=False`);
- `sharded/`: `pytorch_model-0000{1,2}-of-00002.bin` and `pytorch_model.bin.index.json`;
- `hf-gpt2/`: fixtures/gpt2 loaded by transformers and saved with `save_pretrained(safe_serialization=False)`
  (config.json + pytorch_model.bin; transformers 5 ignores the flag, so the .bin is torch.save of the
  state_dict, as transformers 4 wrote it);
- for each checkpoint, `NAME.expected.safetensors`: what the safetensors project's conversion gives,
  `safetensors.torch.save_file({name: tensor.contiguous()})` after `torch.load(weights_only=True)`, with
  nested dicts flattened by joining keys with dots and shared tensors cloned.

- `views-deflated.pt`: `views.pt` rewritten with every zip entry deflated (torch.load reads it too);

and prints JSON: {"files": {NAME: {"path", "expected", "format", "tied": [[names whose bytes overlap in one
storage, found from torch.load's data pointers, offsets and strides]],
"tensors": [names], "skipped": [non-tensor keys], "scalars": {dotted key: str(value) of plain scalars},
"digests": {name: {"dtype" (Recast's code), "shape", "sha256" of `t.contiguous()`'s bytes}}}}}
(paths relative to DIR).

Cases: `dtypes` (every dtype torch and safetensors share: 19; the legacy file leaves out the float8s and
u16/u32/u64, which torch writes there as untyped storages its own torch.load cannot read), `tied` (one
storage, several tensors at different offsets, and one tensor under two names), `strided` (`.t()`, step and
column slices), `views` (views of one matrix in a nested dict: tied, transposed, sliced, stepped, a 0-d element,
an empty slice, an nn.Parameter, an int key, and scalars, a string, a bool and a list beside them), `nested`
(`{"model": state_dict, "epoch": 3, "optimizer_name": "adam"}`), `ordered` (an nn.Module's OrderedDict).

This is the one generator of torch.save files for the tests (TorchPickleTests, CLITests, RealModelTests) and
the fuzzing seeds (tools/fuzz.sh).
"""
import collections
import hashlib
import json
import os
import shutil
import sys
import zipfile

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dtypes_case():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(3, 5, generator=g) * 4
    out = collections.OrderedDict()
    for name, dt in [("f64", torch.float64), ("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16),
                     ("f8_e4m3", torch.float8_e4m3fn), ("f8_e5m2", torch.float8_e5m2),
                     ("f8_e4m3fnuz", torch.float8_e4m3fnuz), ("f8_e5m2fnuz", torch.float8_e5m2fnuz)]:
        out[name] = base.to(dt)
    out["f8_e8m0"] = base.abs().to(torch.float8_e8m0fnu)
    ints = torch.tensor([[0, 1, -1, 127, -128], [100, -100, 7, -7, 42], [3, 9, -27, 81, -64]])
    for name, dt in [("i64", torch.int64), ("i32", torch.int32), ("i16", torch.int16), ("i8", torch.int8)]:
        out[name] = ints.to(dt)
    out["i64_big"] = torch.tensor([2**62 + 12345, -(2**62) - 7], dtype=torch.int64)
    out["u8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    out["u16"] = torch.tensor([0, 1, 40000, 65535], dtype=torch.uint16)
    out["u32"] = torch.tensor([0, 1, 3000000000, 4294967295], dtype=torch.uint32)
    out["u64"] = torch.tensor([0, 1, 2**63 + 5, 2**64 - 1], dtype=torch.uint64)
    out["bool"] = torch.tensor([[True, False, True], [False, False, True]])
    out["c64"] = torch.complex(base[0], base[1])
    out["scalar"] = torch.tensor(2.5)
    out["empty"] = torch.zeros(0, 4)
    return out


def tied_case():
    base = torch.arange(64, dtype=torch.float32) / 8
    emb = torch.randn(8, 4, generator=torch.Generator().manual_seed(2))
    sd = collections.OrderedDict()
    sd["first"] = base[0:16].view(4, 4)  # first, second and tail share a storage but no bytes: not tied
    sd["second"] = base[16:40].view(6, 4)
    sd["tail"] = base[60:64]
    sd["embed.weight"] = emb
    sd["lm_head.weight"] = emb  # the same tensor under two names
    sd["lone"] = torch.ones(3)
    return sd


def strided_case():
    m = torch.arange(30, dtype=torch.float32).reshape(5, 6)
    sd = collections.OrderedDict()
    sd["transposed"] = m.t()
    sd["every_other_row"] = m[::2]
    sd["columns"] = m[:, 1:4]
    sd["plain"] = m
    sd["half_t"] = torch.arange(12, dtype=torch.float16).reshape(3, 4).t()
    return sd


def views_case():
    w = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    model = {"embed.weight": w, "head.weight": w, "wt": w.t(), "rows": w[1:3], "cols": w[:, 2:5], "step": w[::2, ::3],
             "scalar": w[2, 4], "empty": w[:0], "p": torch.nn.Parameter(torch.ones(3))}
    return {"model": model, "other": torch.zeros(2, dtype=torch.float16), "epoch": 3, "lr": 0.5, "name": "run-7",
            "flag": True, "losses": [1.0, 2.0], 7: torch.ones(1)}


def nested_case():
    g = torch.Generator().manual_seed(3)
    sd = {"encoder.weight": torch.randn(4, 3, generator=g), "encoder.bias": torch.randn(4, generator=g),
          "head": {"weight": torch.randn(2, 4, generator=g)}}
    return {"model": sd, "epoch": 3, "optimizer_name": "adam"}


def ordered_case():
    torch.manual_seed(4)
    module = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.LayerNorm(3), torch.nn.Linear(3, 2, bias=False))
    sd = module.state_dict()
    assert isinstance(sd, collections.OrderedDict)
    return sd


# torch writes these dtypes in the legacy format as untyped storages that its own torch.load cannot read back.
LEGACY_UNREADABLE = {torch.float8_e4m3fn, torch.float8_e5m2, torch.float8_e4m3fnuz, torch.float8_e5m2fnuz,
                     torch.float8_e8m0fnu, torch.uint16, torch.uint32, torch.uint64}

# torch dtypes by Recast's (and safetensors') dtype code.
RECAST_DTYPE = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2", torch.float8_e4m3fnuz: "F8_E4M3FNUZ",
                torch.float8_e5m2fnuz: "F8_E5M2FNUZ", torch.float8_e8m0fnu: "F8_E8M0", torch.int64: "I64",
                torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.uint16: "U16",
                torch.uint32: "U32", torch.uint64: "U64", torch.bool: "BOOL", torch.complex64: "C64"}


def legacy_subset(obj):
    return type(obj)(
        (k, v) for k, v in obj.items() if not (isinstance(v, torch.Tensor) and v.dtype in LEGACY_UNREADABLE))


def flatten(obj, prefix=""):
    """(tensors by dotted name, the dotted names of everything else, plain scalars by dotted name as str())."""
    tensors, skipped, scalars = collections.OrderedDict(), [], {}
    for k, v in obj.items():
        name = f"{prefix}{k}"
        if isinstance(v, torch.Tensor):
            tensors[name] = v
        elif isinstance(v, dict):
            t, s, c = flatten(v, name + ".")
            tensors.update(t)
            skipped += s
            scalars.update(c)
        else:
            skipped.append(name)
            if isinstance(v, (bool, int, float, str)):
                scalars[name] = str(v)
    return tensors, skipped, scalars


def digest(t):
    """Recast's dtype code, the shape, and the SHA-256 of the tensor's bytes made contiguous."""
    c = t.detach().contiguous()
    raw = c.reshape(-1).view(torch.uint8).numpy().tobytes() if c.numel() else b""
    return {"dtype": RECAST_DTYPE[t.dtype], "shape": list(t.shape), "sha256": hashlib.sha256(raw).hexdigest()}


def overlapping_groups(tensors):
    """Groups of names whose bytes overlap in one storage (as torch.load made them), in stored order."""
    spans = []
    for name, t in tensors.items():
        start = t.untyped_storage().data_ptr() + t.storage_offset() * t.element_size()
        extent = 1 + sum((n - 1) * st for n, st in zip(t.shape, t.stride())) if t.numel() else 0
        spans.append((name, t.untyped_storage().data_ptr(), start, start + extent * t.element_size()))
    parent = {n: n for n, *_ in spans}

    def root(n):
        while parent[n] != n:
            n = parent[n]
        return n
    for i, (a, sa, a0, a1) in enumerate(spans):
        for b, sb, b0, b1 in spans[i + 1:]:
            if sa == sb and a0 < b1 and b0 < a1:
                parent[root(b)] = root(a)
    groups = collections.OrderedDict()
    for n, *_ in spans:
        groups.setdefault(root(n), []).append(n)
    return [g for g in groups.values() if len(g) > 1]


def write_expected(checkpoints, path):
    """The safetensors project's conversion: torch.load(weights_only=True), contiguous copies, save_file.
    Returns the tensor names, the names of non-tensor values, the groups of tensors whose bytes overlap, the
    plain scalars and each tensor's digest."""
    tensors, skipped, tied, scalars = collections.OrderedDict(), [], [], {}
    for ckpt in checkpoints:
        t, s, c = flatten(torch.load(ckpt, weights_only=True, map_location="cpu"))
        tensors.update(t)
        skipped += s
        scalars.update(c)
        tied += overlapping_groups(t)
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, path)
    return list(tensors), skipped, tied, scalars, {k: digest(v) for k, v in tensors.items()}


def real_model(src, out):
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    os.makedirs(out, exist_ok=True)
    model = transformers.AutoModel.from_pretrained(src)
    shutil.copy(os.path.join(src, "config.json"), os.path.join(out, "config.json"))
    path = os.path.join(out, "pytorch_model.bin")
    torch.save(model.state_dict(), path)
    expected = out.rstrip("/") + ".expected.safetensors"  # beside the folder: a model folder prefers safetensors
    write_expected([path], expected)
    print(json.dumps({"path": path, "expected": expected}))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--model":
        return real_model(sys.argv[2], os.path.abspath(sys.argv[3]))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    files = {}

    def record(name, rel, fmt, sources):
        expected = name + ".expected.safetensors"
        names, skipped, tied, scalars, digests = write_expected([os.path.join(out, s) for s in sources],
                                                                os.path.join(out, expected))
        files[name] = {"path": rel, "expected": expected, "format": fmt, "tied": tied, "tensors": names,
                       "skipped": skipped, "scalars": scalars, "digests": digests}

    for case, make in [("dtypes", dtypes_case), ("tied", tied_case), ("strided", strided_case), ("views", views_case),
                       ("nested", nested_case), ("ordered", ordered_case)]:
        obj = make()
        torch.save(obj, os.path.join(out, case + ".pt"))
        record(case, case + ".pt", "pytorch-zip", [case + ".pt"])
        legacy = case + "-legacy.pth"
        torch.save(legacy_subset(obj), os.path.join(out, legacy), _use_new_zipfile_serialization=False)
        record(case + "-legacy", legacy, "pytorch-legacy", [legacy])

    # The zip format with every entry deflated.
    with zipfile.ZipFile(os.path.join(out, "views.pt")) as src, \
            zipfile.ZipFile(os.path.join(out, "views-deflated.pt"), "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    record("views-deflated", "views-deflated.pt", "pytorch-zip", ["views-deflated.pt"])

    # Sharded, with the index transformers writes.
    torch.manual_seed(5)
    shards = [collections.OrderedDict(a=torch.randn(3, 2), b=torch.randn(4)),
              collections.OrderedDict(c=torch.randn(2, 2, 2).to(torch.bfloat16))]
    folder = os.path.join(out, "sharded")
    os.makedirs(folder, exist_ok=True)
    weight_map, total = {}, 0
    for i, shard in enumerate(shards, 1):
        fname = f"pytorch_model-{i:05d}-of-{len(shards):05d}.bin"
        torch.save(shard, os.path.join(folder, fname))
        for k, v in shard.items():
            weight_map[k] = fname
            total += v.numel() * v.element_size()
    index = "sharded/pytorch_model.bin.index.json"
    with open(os.path.join(out, index), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    record("sharded", index, "pytorch-sharded", ["sharded/" + s for s in sorted(set(weight_map.values()))])

    # A tiny Hugging Face folder, saved by transformers as pytorch_model.bin.
    import transformers
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    hf = os.path.join(out, "hf-gpt2")
    model = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(ROOT, "fixtures", "gpt2"))
    model.save_pretrained(hf, safe_serialization=False)
    # transformers 5 writes safetensors whatever `safe_serialization` says; a .bin is then what transformers 4's
    # save_pretrained(safe_serialization=False) wrote: torch.save of the state_dict (lm_head tied to wte).
    if not os.path.exists(os.path.join(hf, "pytorch_model.bin")):
        for f in os.listdir(hf):
            if f.endswith(".safetensors") or f.endswith(".safetensors.index.json"):
                os.remove(os.path.join(hf, f))
        torch.save(model.state_dict(), os.path.join(hf, "pytorch_model.bin"))
    record("hf-gpt2", "hf-gpt2/pytorch_model.bin", "pytorch-zip", ["hf-gpt2/pytorch_model.bin"])

    print(json.dumps({"files": files}, indent=1))


if __name__ == "__main__":
    main()
