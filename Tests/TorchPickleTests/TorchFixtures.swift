import Foundation
import RecastCore
import TestSupport

/// Real `torch.save` output, written once per test run by one Python process (torch 2.13), with what
/// `torch.load` makes of each file: for every tensor its dtype, shape and the SHA-256 of
/// `t.contiguous()`'s bytes, and the groups of tensors whose bytes overlap (found from data pointers).
final class TorchFixtures: @unchecked Sendable {
    let dir = TempDir()
    /// file name → tensor name → (dtype code, shape, sha256)
    var expected: [String: [String: (dtype: String, shape: [Int], sha256: String)]] = [:]
    /// file name → groups of tied tensor names (sorted)
    var ties: [String: [[String]]] = [:]
    /// file name → metadata key → text
    var scalars: [String: [String: String]] = [:]

    static let shared: TorchFixtures = {
        let f = TorchFixtures()
        do { try f.generate() } catch { f.failure = "\(error)" }
        return f
    }()
    var failure: String?

    func path(_ name: String) -> String { dir.file(name) }

    private func generate() throws {
        let r = try python(["-c", Self.script, dir.path, repoRoot])
        guard r.status == 0 else { throw CheckpointError(file: "torch fixtures", "python failed: \(r.stderr)") }
        let json = try JSON.parse(r.stdout)
        for (file, entry) in json["files"]?.objectValue ?? [] {
            var tensors: [String: (String, [Int], String)] = [:]
            for (name, t) in entry["tensors"]?.objectValue ?? [] {
                tensors[name] = (t["dtype"]?.stringValue ?? "", (t["shape"]?.arrayValue ?? []).compactMap(\.intValue), t["sha256"]?.stringValue ?? "")
            }
            expected[file] = tensors
            ties[file] = (entry["ties"]?.arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.stringValue) }
            var s: [String: String] = [:]
            for (k, v) in entry["scalars"]?.objectValue ?? [] { s[k] = v.stringValue }
            scalars[file] = s
        }
    }

    static let script = #"""
import sys, json, hashlib, os, shutil, zipfile, collections
import torch
from safetensors.torch import load_file
out, root = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
DT = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
      torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2", torch.float8_e4m3fnuz: "F8_E4M3FNUZ",
      torch.float8_e5m2fnuz: "F8_E5M2FNUZ", torch.float8_e8m0fnu: "F8_E8M0", torch.int64: "I64", torch.int32: "I32",
      torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.uint16: "U16", torch.uint32: "U32",
      torch.uint64: "U64", torch.bool: "BOOL", torch.complex64: "C64"}

# The legacy format has no storage class for float8 and uint16/32/64: torch.load cannot read such a
# legacy file back, so the legacy file holds the dtypes that have one.
UNTYPED = (torch.float8_e4m3fn, torch.float8_e5m2, torch.float8_e4m3fnuz, torch.float8_e5m2fnuz, torch.float8_e8m0fnu,
           torch.uint16, torch.uint32, torch.uint64)
def every_dtype(legacy=False):
    base = torch.randn(2, 3) * 4
    d = collections.OrderedDict()
    for dt in DT:
        if legacy and dt in UNTYPED: continue
        if dt == torch.bool: d["t_bool"] = base > 0
        elif dt == torch.complex64: d["t_c64"] = torch.complex(base, -base)
        elif dt in (torch.uint16, torch.uint32, torch.uint64): d["t_" + str(dt)[6:]] = base.abs().to(torch.int64).to(dt)
        else: d["t_" + str(dt)[6:]] = base.to(dt)
    return d

def views():
    w = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    return {"model": {"embed.weight": w, "head.weight": w, "wt": w.t(), "rows": w[1:3], "cols": w[:, 2:5],
                      "step": w[::2, ::3], "scalar": w[2, 4], "empty": w[:0], "p": torch.nn.Parameter(torch.ones(3))},
            "other": torch.zeros(2, dtype=torch.float16), "epoch": 3, "lr": 0.5, "name": "run-7", "flag": True,
            "losses": [1.0, 2.0], 7: torch.ones(1)}

def record(name, obj):
    loaded = torch.load(os.path.join(out, name), weights_only=True)
    tensors, spans, scalars = {}, [], {}
    def walk(v, prefix):
        if isinstance(v, torch.Tensor):
            c = v.contiguous()
            raw = c.reshape(-1).view(torch.uint8).numpy().tobytes() if c.numel() else b""
            tensors[prefix] = {"dtype": DT[v.dtype], "shape": list(v.shape), "sha256": hashlib.sha256(raw).hexdigest()}
            if v.numel():
                st = v.untyped_storage().data_ptr(); es = v.element_size()
                last = v.storage_offset() + sum((s - 1) * d for s, d in zip(v.shape, v.stride()))
                spans.append((st, v.storage_offset() * es, (last + 1) * es, prefix))
        elif isinstance(v, dict):
            for k, x in v.items(): walk(x, f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(v, (bool, int, float, str)):
            scalars[prefix] = str(v)
    walk(loaded, "")
    groups = []
    for st in sorted(set(s[0] for s in spans)):
        mine = sorted((a, b, n) for (p, a, b, n) in spans if p == st)
        cur, reach = [], None
        for a, b, n in mine:
            if reach is not None and a < reach: cur.append(n)
            else:
                if len(cur) > 1: groups.append(sorted(cur))
                cur = [n]
            reach = b if reach is None else max(reach, b)
        if len(cur) > 1: groups.append(sorted(cur))
    result[name] = {"tensors": tensors, "ties": sorted(groups), "scalars": scalars}

result = {}
for name, obj, legacy in [("dtypes", every_dtype(), every_dtype(legacy=True)), ("views", views(), views())]:
    torch.save(obj, os.path.join(out, name + ".pt")); record(name + ".pt", obj)
    torch.save(legacy, os.path.join(out, name + "-legacy.pt"), _use_new_zipfile_serialization=False); record(name + "-legacy.pt", legacy)
# The zip format with every entry deflated (torch.load reads it too).
with zipfile.ZipFile(os.path.join(out, "views.pt")) as src, zipfile.ZipFile(os.path.join(out, "views-deflated.pt"), "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist(): dst.writestr(info.filename, src.read(info.filename))
record("views-deflated.pt", None)
# A model folder: the gpt2 fixture's weights as pytorch_model.bin, and as two shards with an index.
sd = load_file(os.path.join(root, "fixtures/gpt2/model.safetensors"))
for folder in ("gpt2-bin", "gpt2-sharded"): os.makedirs(os.path.join(out, folder)); shutil.copy(os.path.join(root, "fixtures/gpt2/config.json"), os.path.join(out, folder))
torch.save(sd, os.path.join(out, "gpt2-bin/pytorch_model.bin")); record("gpt2-bin/pytorch_model.bin", sd)
names = list(sd); half = len(names) // 2
parts = {"pytorch_model-00001-of-00002.bin": names[:half], "pytorch_model-00002-of-00002.bin": names[half:]}
weight_map = {}
for f, ns in parts.items():
    torch.save({n: sd[n] for n in ns}, os.path.join(out, "gpt2-sharded", f)); weight_map.update({n: f for n in ns})
json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, open(os.path.join(out, "gpt2-sharded/pytorch_model.bin.index.json"), "w"))
print(json.dumps({"files": result}))
"""#
}
