#!/usr/bin/env python3
"""Hostile pickles and PyTorch checkpoints, for the tests of Recast's pickle reader (it must refuse every one).

    python3 tools/hostile_pickles.py DIR

writes into DIR, and prints JSON: {"marker": ABSOLUTE PATH, "files": {NAME: {"path", "kind", "global"}}}.

- kind "code": a payload that, if unpickled by Python, creates the marker file DIR/marker. Each of `os.system`,
  `builtins.eval`, `subprocess.Popen` and `posix.system`, reached through GLOBAL + REDUCE, STACK_GLOBAL + REDUCE,
  BUILD (an object whose `__setstate__` is set to the callable), NEWOBJ (+ the same BUILD), INST and OBJ, as bare
  pickles (`*.pkl`), inside the data.pkl of an otherwise valid zip checkpoint (`*.pt`) and as the main pickle
  of an otherwise valid legacy checkpoint (`*-legacy.pth`). "global" is the dotted name of the first global
  outside torch's allow-list in the stream: a refusal must name it.
- kind "structure": the other refusals (extension codes, memo out of range, stack underflow, bad persistent
  ids, a storage key missing, offset or size outside the storage, recursion and size bombs, zips with
  overlapping entries, a lying central directory, path traversal). "global" is null. `size-bomb-shape` is a
  stride-0 view of 2^60 elements, which torch.load accepts; Recast refuses it (more than 4 PiB once materialised).
- `valid.pt` and `valid-legacy.pth`: the same hand-written checkpoints with nothing wrong (kind "valid"), so
  that a refusal of the others is about their fault, not about how this script writes checkpoints.

Every payload is proved live before the JSON is printed: a child process in a temporary folder loads each bare
pickle with `pickle.loads`, and each checkpoint with `torch.load(weights_only=False)` when torch is installed
(else with an unpickler whose persistent_load returns None: the payload runs before any tensor), waits for the
marker and deletes it. The script fails if a payload does not run, or if torch.load refuses valid.pt.
Files are written by hand (opcode by opcode, zip record by record): no torch needed to write them.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

# ----------------------------------------------------------------------------------------------- pickle opcodes

PROTO2 = b"\x80\x02"
MARK, STOP, POP = b"(", b".", b"0"
TUPLE, TUPLE1, TUPLE2, EMPTY_TUPLE = b"t", b"\x85", b"\x86", b")"
EMPTY_DICT, EMPTY_LIST, SETITEM, SETITEMS, APPEND = b"}", b"]", b"s", b"u", b"a"
REDUCE, BUILD, NEWOBJ, OBJ, BINPERSID, STACK_GLOBAL = b"R", b"b", b"\x81", b"o", b"Q", b"\x93"
NONE, NEWFALSE = b"N", b"\x89"


def proto(n): return b"\x80" + bytes([n])
def global_(module, name): return b"c" + module.encode() + b"\n" + name.encode() + b"\n"
def inst(module, name): return b"i" + module.encode() + b"\n" + name.encode() + b"\n"
def s(text):
    b = text.encode()
    return b"X" + struct.pack("<I", len(b)) + b
def short_s(text):
    b = text.encode()
    return b"\x8c" + bytes([len(b)]) + b
def i(n): return b"J" + struct.pack("<i", n) if n > 255 or n < 0 else b"K" + bytes([n])
def binput(n): return b"q" + bytes([n])
def binget(n): return b"h" + bytes([n])
def tup(*items): return MARK + b"".join(items) + TUPLE


# ------------------------------------------------------------------------------------------------ the payloads

CALLABLES = {"os.system": ("os", "system"), "builtins.eval": ("builtins", "eval"),
             "subprocess.Popen": ("subprocess", "Popen"), "posix.system": ("posix", "system")}


def argument(dotted, marker):
    """The pickled argument that makes `dotted` create `marker`."""
    if dotted == "builtins.eval":
        return s(f"open({marker!r}, 'w').close()")
    if dotted == "subprocess.Popen":
        return EMPTY_LIST + s("touch") + APPEND + s(marker) + APPEND
    return s(f"touch '{marker}'")


def payload(dotted, mechanism, marker):
    """Opcodes (no PROTO, no STOP) that leave on the stack the result of calling `dotted` to create `marker`."""
    module, name = CALLABLES[dotted]
    arg = argument(dotted, marker)
    if mechanism == "global":
        return global_(module, name) + MARK + arg + TUPLE + REDUCE
    if mechanism == "stack-global":
        return short_s(module) + short_s(name) + STACK_GLOBAL + MARK + arg + TUPLE + REDUCE
    if mechanism in ("build", "newobj"):
        # An object with a __dict__ whose `__setstate__` attribute becomes the callable (BUILD's slot state sets
        # attributes), then BUILD with the argument calls inst.__setstate__(argument). The callable's global
        # comes first in the stream (memoised, popped), then the object: made by REDUCE of
        # argparse.Namespace() or by NEWOBJ (argparse.Namespace.__new__).
        make = global_("argparse", "Namespace") + EMPTY_TUPLE + (NEWOBJ if mechanism == "newobj" else REDUCE)
        return (global_(module, name) + binput(200) + POP + make
                + MARK + NONE + EMPTY_DICT + s("__setstate__") + binget(200) + SETITEM + TUPLE + BUILD
                + arg + BUILD)
    if mechanism == "inst":
        return MARK + arg + inst(module, name)
    if mechanism == "obj":
        return MARK + global_(module, name) + arg + OBJ
    raise ValueError(mechanism)


MECHANISMS = ["global", "stack-global", "build", "newobj", "inst", "obj"]

# ----------------------------------------------------------------------------------------- torch checkpoints


def rebuild_tensor(storage_key, storage_class, numel, offset, size, stride, pid_extra=()):
    """`torch._utils._rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())`."""
    pid = tup(s("storage"), global_("torch", storage_class), s(storage_key), s("cpu"), i(numel), *pid_extra)
    return (global_("torch._utils", "_rebuild_tensor_v2")
            + MARK + pid + BINPERSID + i(offset) + tup(*[i(x) for x in size]) + tup(*[i(x) for x in stride])
            + NEWFALSE + global_("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE)


def state_dict(items, protocol=2):
    """A pickle of {name: value-opcodes} (a plain dict, as torch.save of a dict writes)."""
    body = EMPTY_DICT + MARK + b"".join(s(k) + v for k, v in items) + SETITEMS
    return proto(protocol) + body + STOP


def valid_items(pid_extra=()):
    return [("weight", rebuild_tensor("0", "FloatStorage", 6, 0, (2, 3), (3, 1), pid_extra)),
            ("bias", rebuild_tensor("1", "FloatStorage", 2, 0, (2,), (1,), pid_extra))]


STORAGES = {"0": struct.pack("<6f", 1, 2, 3, 4, 5, 6), "1": struct.pack("<2f", 0.5, -0.5)}


class Entry:
    def __init__(self, name, data, *, size=None, offset=None, compress=False):
        self.name, self.data, self.size, self.offset, self.compress = name, data, size, offset, compress


def zip_bytes(entries, *, cd_offset=None, count=None, cd_size=None):
    """A zip of stored (or deflated) entries, with each field overridable to make it lie."""
    out, central = bytearray(), bytearray()
    for e in entries:
        raw = e.data
        data = zlib.compress(raw)[2:-4] if e.compress else raw
        method = 8 if e.compress else 0
        name = e.name.encode()
        # Pad so that data starts 64-byte aligned, as torch does.
        extra_len = (-(len(out) + 30 + len(name) + 4)) % 64 + 4
        extra = struct.pack("<HH", 0xFEED, extra_len - 4) + b"\0" * (extra_len - 4)
        header_offset = len(out)
        crc = zlib.crc32(raw)
        csize = len(data) if e.size is None else e.size
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, csize, len(raw) if e.size is None else e.size,
                           len(name), len(extra)) + name + extra + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, csize,
                               len(raw) if e.size is None else e.size, len(name), 0, 0, 0, 0, 0,
                               header_offset if e.offset is None else e.offset) + name
    start = len(out)
    out += central
    n = len(entries) if count is None else count
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central) if cd_size is None else cd_size,
                       start if cd_offset is None else cd_offset, 0)
    return bytes(out)


def torch_zip(pkl, storages=STORAGES, top="archive", **lies):
    entries = [Entry(f"{top}/data.pkl", pkl), Entry(f"{top}/byteorder", b"little")]
    entries += [Entry(f"{top}/data/{k}", v) for k, v in storages.items()]
    entries += [Entry(f"{top}/version", b"3\n")]
    return zip_bytes(entries, **lies)


def legacy(main_pickle, keys=("0", "1"), storages=STORAGES):
    """torch's legacy format: magic number, protocol version, system info, main pickle, storage keys, storages."""
    magic = proto(2) + b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + STOP
    version = proto(2) + b"M" + struct.pack("<H", 1001) + STOP
    info = proto(2) + EMPTY_DICT + MARK + s("protocol_version") + b"M" + struct.pack("<H", 1001) \
        + s("little_endian") + b"\x88" + s("type_sizes") + EMPTY_DICT + MARK + s("short") + i(2) + s("int") + i(4) \
        + s("long") + i(4) + SETITEMS + SETITEMS + STOP
    key_list = proto(2) + EMPTY_LIST + MARK + b"".join(s(k) for k in keys) + b"e" + STOP
    body = b"".join(struct.pack("<q", len(storages[k]) // 4) + storages[k] for k in keys)
    return magic + version + info + main_pickle + key_list + body


# ------------------------------------------------------------------------------------------ structural faults


def structure_cases():
    """name -> (file name, bytes) of files refused for their structure, not for a global."""
    cases = {}
    bare = lambda name, ops: cases.__setitem__(name, (name + ".pkl", ops))
    bare("extension-code", PROTO2 + b"\x82\x01" + STOP)
    bare("extension-code-2", PROTO2 + b"\x83\x01\x02" + STOP)
    bare("memo-out-of-range", PROTO2 + EMPTY_DICT + binput(0) + POP + binget(7) + STOP)
    bare("memo-long-get-huge", PROTO2 + b"j" + struct.pack("<I", 0xFFFFFFF0) + STOP)
    bare("stack-underflow-tuple", PROTO2 + s("a") + TUPLE2 + STOP)
    bare("stack-underflow-setitem", PROTO2 + EMPTY_DICT + SETITEM + STOP)
    bare("stack-underflow-pop-mark", PROTO2 + b"1" + STOP)
    bare("truncated-string", PROTO2 + b"X" + struct.pack("<I", 1 << 30) + b"abc")
    bare("size-bomb-string", proto(4) + b"\x8d" + struct.pack("<Q", 1 << 62) + b"abc" + STOP)
    bare("size-bomb-frame", proto(4) + b"\x95" + struct.pack("<Q", 1 << 62) + EMPTY_DICT + STOP)
    # Recursion: a list nested 200 000 deep.
    bare("recursion-bomb", PROTO2 + EMPTY_LIST * 200_000 + APPEND * 199_999 + STOP)
    # Size: 64 levels of dicts, each holding the previous one twice through the memo (2^64 tensor paths if walked).
    laughs = PROTO2 + EMPTY_DICT + b"r" + struct.pack("<I", 0)
    for level in range(1, 65):
        laughs += EMPTY_DICT + s("a") + b"j" + struct.pack("<I", level - 1) + SETITEM \
            + s("b") + b"j" + struct.pack("<I", level - 1) + SETITEM + b"r" + struct.pack("<I", level)
    bare("size-bomb-laughs", laughs + STOP)
    bare("no-stop", PROTO2 + EMPTY_DICT)

    def ckpt(name, pkl, **lies):
        cases[name] = (name + ".pt", torch_zip(pkl, **lies))

    items = valid_items()
    ckpt("pid-not-storage", state_dict([("weight", global_("torch._utils", "_rebuild_tensor_v2")
                                          + MARK + tup(s("module"), s("os"), s("system")) + BINPERSID + i(0)
                                          + tup(i(2)) + tup(i(1)) + NEWFALSE + global_("collections", "OrderedDict")
                                          + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE)]))
    ckpt("pid-short", state_dict([("weight", global_("torch._utils", "_rebuild_tensor_v2")
                                    + MARK + tup(s("storage"), global_("torch", "FloatStorage"), s("0"))
                                    + BINPERSID + i(0) + tup(i(2)) + tup(i(1)) + NEWFALSE
                                    + global_("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE)]))
    ckpt("pid-storage-type-int", state_dict([("weight", global_("torch._utils", "_rebuild_tensor_v2")
                                               + MARK + tup(s("storage"), i(5), s("0"), s("cpu"), i(6))
                                               + BINPERSID + i(0) + tup(i(2)) + tup(i(1)) + NEWFALSE
                                               + global_("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
                                               + TUPLE + REDUCE)]))
    ckpt("storage-key-missing", state_dict([("weight", rebuild_tensor("7", "FloatStorage", 6, 0, (2, 3), (3, 1)))]))
    ckpt("storage-key-traversal", state_dict([("weight", rebuild_tensor("../../data.pkl", "FloatStorage", 6, 0,
                                                                        (2, 3), (3, 1)))]))
    ckpt("offset-outside-storage", state_dict([("weight", rebuild_tensor("0", "FloatStorage", 6, 10, (2,), (1,)))]))
    ckpt("size-outside-storage", state_dict([("weight", rebuild_tensor("0", "FloatStorage", 6, 0, (4, 3), (3, 1)))]))
    ckpt("stride-outside-storage", state_dict([("weight", rebuild_tensor("0", "FloatStorage", 6, 0, (2, 3), (300, 1)))]))
    ckpt("numel-larger-than-data", state_dict([("weight", rebuild_tensor("0", "FloatStorage", 600, 0, (2, 3), (3, 1)))]))
    ckpt("size-bomb-shape", state_dict([("weight", rebuild_tensor("0", "FloatStorage", 6, 0,
                                                                  (1 << 30, 1 << 30), (0, 0)))]))
    ckpt("negative-offset", state_dict([("weight", rebuild_tensor("0", "FloatStorage", 6, 0, (2,), (1,)).replace(
        BINPERSID + i(0), BINPERSID + i(-4)))]))
    good = state_dict(items)
    # Zip structures.
    entries = [Entry("archive/data/0", STORAGES["0"]), Entry("archive/data.pkl", good),
               Entry("archive/data/1", STORAGES["1"]), Entry("archive/version", b"3\n")]
    first_two = zip_bytes(entries[:2])  # to find where data.pkl's record starts
    pkl_record = first_two.index(b"PK\x03\x04", 4)
    cases["zip-overlapping-entries"] = ("zip-overlapping-entries.pt", zip_bytes(
        [Entry("archive/data/0", STORAGES["0"], size=pkl_record + 30 - 64 + 16)] + entries[1:]))
    cases["zip-entries-share-offset"] = ("zip-entries-share-offset.pt", zip_bytes(
        entries[:3] + [Entry("archive/version", b"3\n", offset=0)]))
    cases["zip-cd-offset-past-end"] = ("zip-cd-offset-past-end.pt", torch_zip(good, cd_offset=1 << 30))
    cases["zip-cd-count-lies"] = ("zip-cd-count-lies.pt", torch_zip(good, count=40))
    cases["zip-cd-size-lies"] = ("zip-cd-size-lies.pt", torch_zip(good, cd_size=1 << 20))
    cases["zip-entry-size-past-end"] = ("zip-entry-size-past-end.pt", zip_bytes(
        entries[:3] + [Entry("archive/version", b"3\n", size=1 << 30)]))
    cases["zip-local-offset-past-end"] = ("zip-local-offset-past-end.pt", zip_bytes(
        entries[:3] + [Entry("archive/version", b"3\n", offset=1 << 30)]))
    cases["zip-path-traversal"] = ("zip-path-traversal.pt", torch_zip(good, top="../../archive"))
    cases["zip-absolute-path"] = ("zip-absolute-path.pt", torch_zip(good, top="/tmp/archive"))
    cases["zip-truncated"] = ("zip-truncated.pt", torch_zip(good)[:-30])
    cases["legacy-storage-missing"] = ("legacy-storage-missing.pth", legacy(state_dict(items), keys=("0",)))
    cases["legacy-truncated"] = ("legacy-truncated.pth", legacy(state_dict(items))[:-5])
    return cases


# ------------------------------------------------------------------------------------------------ proof of life

PROVE = r"""
import json, os, pickle, sys, time
marker, files = sys.argv[1], json.loads(sys.argv[2])
try:
    import torch
    def load_checkpoint(path):
        return torch.load(path, weights_only=False)
except ImportError:
    torch = None
    import zipfile
    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid):
            return None
    def load_checkpoint(path):
        with open(path, "rb") as f:
            if zipfile.is_zipfile(path):
                name = next(n for n in zipfile.ZipFile(path).namelist() if n.endswith("data.pkl"))
                return Unpickler(zipfile.ZipFile(path).open(name)).load()
            for _ in range(4):
                Unpickler(f).load()
results = {}
for name, path in files.items():
    try:
        if path.endswith(".pkl"):
            with open(path, "rb") as f:
                pickle.loads(f.read())
        else:
            load_checkpoint(path)
    except Exception:
        pass  # the payload has run (or not) by the time anything after it fails
    deadline = time.time() + 5
    while not os.path.exists(marker) and time.time() < deadline:
        time.sleep(0.01)
    results[name] = os.path.exists(marker)
    if results[name]:
        os.remove(marker)
valid = {}
if torch is not None:
    for path in sys.argv[3:]:
        sd = torch.load(path, weights_only=True)
        valid[path] = {k: v.tolist() for k, v in sd.items()}
print(json.dumps({"live": results, "valid": valid, "torch": torch is not None}))
"""


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    marker = os.path.join(out, "marker")
    files = {}

    def write(name, filename, data, kind, dotted=None):
        with open(os.path.join(out, filename), "wb") as f:
            f.write(data)
        files[name] = {"path": filename, "kind": kind, "global": dotted}

    write("valid", "valid.pt", torch_zip(state_dict(valid_items())), "valid")
    write("valid-legacy", "valid-legacy.pth", legacy(state_dict(valid_items(pid_extra=(NONE,)))), "valid")
    for dotted in CALLABLES:
        for mech in MECHANISMS:
            ops = payload(dotted, mech, marker)
            protocol = 4 if mech == "stack-global" else 2
            base = f"{dotted.replace('.', '-')}-{mech}"
            write(base, base + ".pkl", proto(protocol) + ops + STOP, "code", dotted)
            # The payload as the first value of an otherwise valid state dict.
            nested = state_dict([("evil", ops)] + valid_items(), protocol)
            write(base + "-zip", base + ".pt", torch_zip(nested), "code", dotted)
            nested_legacy = state_dict([("evil", ops)] + valid_items(pid_extra=(NONE,)), protocol)
            write(base + "-legacy", base + "-legacy.pth", legacy(nested_legacy), "code", dotted)
    # The payload deep inside: {"model": {"encoder": {"weight": tensor, "hook": payload}}} and after a tensor.
    weight = valid_items()[0][1]
    deep = state_dict([("model", EMPTY_DICT + MARK + s("encoder") + EMPTY_DICT + MARK + s("weight") + weight
                        + s("hook") + payload("os.system", "global", marker) + SETITEMS + SETITEMS),
                       ("epoch", i(3))])
    write("deep-os-system-zip", "deep-os-system.pt", torch_zip(deep), "code", "os.system")
    for name, (filename, data) in structure_cases().items():
        write(name, filename, data, "structure")

    code = {k: os.path.join(out, v["path"]) for k, v in files.items() if v["kind"] == "code"}
    valid = [os.path.join(out, "valid.pt"), os.path.join(out, "valid-legacy.pth")]
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, "-c", PROVE, marker, json.dumps(code)] + valid, cwd=tmp,
                           capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit(f"hostile_pickles.py: the proof run failed:\n{r.stderr}")
    proof = json.loads(r.stdout.strip().splitlines()[-1])
    dead = [k for k, live in proof["live"].items() if not live]
    if dead:
        sys.exit(f"hostile_pickles.py: these payloads did not create the marker when unpickled: {dead}")
    expected = {"weight": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "bias": [0.5, -0.5]}
    for path, sd in proof["valid"].items():
        if sd != expected:
            sys.exit(f"hostile_pickles.py: torch.load read {path} as {sd}, not {expected}")
    if os.path.exists(marker):
        os.remove(marker)
    print(json.dumps({"marker": marker, "proved_with_torch": proof["torch"], "files": files}, indent=1))


if __name__ == "__main__":
    main()
