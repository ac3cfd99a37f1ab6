#!/usr/bin/env python3
"""Runtime speed and memory on the real SmolLM2-135M (f32), Recast against PyTorch and llama.cpp in one run.

    python3 tools/bench_runtime.py [--work .cache/bench-runtime] [--threads 2] [--length 512] [--long 4096]
                                   [--repeat 3] [--rounds 3] [--pairs 10] [--steps 16] [--skip-torch] [--skip-llama] [--skip-memory]
                                   [--json FILE] [--recast BINARY] [--no-build] [--llama-bench BINARY]
    python3 tools/bench_runtime.py --profile     # where Recast's time goes instead (one thread)

Never run in CI: it builds Recast in release mode and takes several minutes. Set
RECAST_MODEL_CACHE=/path/.cache/models to reuse a model cache that tools/models.py already filled.

The model: the SmolLM2-135M-Instruct GGUF of tools/models.py (`smollm2-gguf`), converted by Recast's own
`recast convert X.gguf FOLDER` into a Hugging Face folder of f32 weights (cached under --work), and its
swap `recast swap … --feature-map hedgehog --layers all --seed 0`. Every engine gets the same weights, the
same synthetic tokens (SplitMix64 of seed 0, as `recast run --length N --seed 0`) and --threads threads
(Recast: OPENBLAS_NUM_THREADS; PyTorch: torch.set_num_threads; llama.cpp: -t, or n_threads and n_threads_batch).

  prefill   --length tokens in one parallel pass, in-process, weights loaded once, best of --repeat:
            with the logits of the last position only (what generating needs; llama.cpp's default) and of
            every position ([T, vocab], 100 MB at 512 tokens).
              Recast:    `recast bench forward MODEL --length T --repeat N [--logits last]`
              PyTorch:   transformers' LlamaForCausalLM (torch 2.13 CPU), `model(ids, logits_to_keep=1)` / `model(ids)`
              llama.cpp: `llama-bench -p T -n 0` (its own token ids; logits of the last position), when
                         tools/build_llama_cpp.sh has built it (or --llama-bench names one); else llama-cpp-python's
                         `Llama.eval` when `import llama_cpp` works. On an F32 GGUF that
                         `recast convert X.gguf Y.gguf --dtype f32` writes, with an F32 KV cache (llama-bench:
                         its F16 one; it offers no F32 cache)
  decode    milliseconds per token after --length tokens of context, batch 1:
              Recast:    `recast bench decode MODEL --lengths T --steps S` (a synthetic history of T tokens
                         in the KV cache; a step costs the same as after a real prefill)
              PyTorch:   HF `generate` (greedy, KV cache) of S+1 tokens minus that of 1 token, over S
              llama.cpp: `llama-bench -p 0 -n S -d T` (S tokens after a context of T), or `Llama.eval`
                         of one token at a time after the prefill
  peak      each process's peak resident memory (wait4's ru_maxrss): the prefill process (its logits
            included), and the decode process
  swapped   the Hedgehog swap's decode time at --long against --length (`recast bench decode --lengths`)
  memory    peak of `recast run --length T --outputs last_logits` and `--outputs logits`, of `recast generate`
            (a licence text prompt, 64 tokens), and of `recast verify ORIGINAL SWAPPED --text …`, against
            the f32 weights (from the safetensors headers) plus the inference state (the KV cache of
            the tokens held)

Every engine is measured once per round, --rounds times, in an order that rotates from round to round. The
machine's speed drifts by tens of percent over minutes, so a ratio is taken between figures of the same
round, and the median of the rounds' ratios is reported (the table shows each engine's median figures).
Prefill against PyTorch is also timed in lockstep (--pairs): one process per engine loads the model once,
and single passes of the two alternate (`recast bench forward --paced`), so each ratio is of two passes run
seconds apart; the prefill targets against PyTorch use the median of those ratios.
Then prints ratios against the peers of this run and checks the targets of issue 12:
  prefill ≤ PyTorch, and ≤ 1.2× llama.cpp F32 (the issue's anchor 0.55 s when llama.cpp is absent);
  decode ≤ 1.1× llama.cpp F32 (anchor 14.2 ms/token when absent); swapped decode at --long ≤ 1.1× at
  --length; run and generate peaks ≤ 1.25 × (f32 weights + state); verify's peak < 1.2 GB.
--profile runs Recast alone with one BLAS thread: prefill (all logits, last logits), decode after --length,
and the swap's decode after --long, under tools/blas_profile.c (an LD_PRELOAD shim, compiled with cc into
--work, that times every cblas_sgemm/cblas_sgemv by shape as the calling thread's CPU time; the shapes
name the call sites: MLP, q/k/v/o projections, attention products, LM head) and, where `perf record`
works, a sampled profile of the compute phase (loading excluded) grouped by what the functions do:
BLAS, allocation and zeroing, exp, attention loops, rotary angles, NaN checks, ...
--recast BINARY times that binary (no build): compare a branch's build against main's.

OPENBLAS_CORETYPE is left as preset in the environment and printed with the figures. The machine is
shared: figures of one run are comparable with each other more than with another run's.
"""
import argparse
import json
import statistics
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from benchlib import measure  # noqa: E402

MiB = 2 ** 20
# The anchors of issue 12, measured on this machine on 2026-11-30 with 2 threads (llama.cpp F32 GGUF,
# F32 KV cache), used when llama.cpp is not importable.
LLAMA_ANCHOR = {"prefill_s": 0.55, "decode_ms": 14.2, "peak_mib": 776}

# Both PyTorch scripts start alike: argv = model folder, length, threads, tools folder, then their own.
TORCH_LOAD = r"""
import json, sys, time
import torch
from transformers import LlamaForCausalLM
sys.path.insert(0, sys.argv[4])
from reference import seeded_tokens
model_dir, length, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
ids = torch.tensor([seeded_tokens(length, 0, model.config.vocab_size)], dtype=torch.long)
"""

TORCH = TORCH_LOAD + r"""
repeat, steps = int(sys.argv[5]), int(sys.argv[6])
mask = torch.ones_like(ids)
def best(f, n):
    times = []
    for _ in range(n):
        start = time.perf_counter(); f(); times.append(time.perf_counter() - start)
    return min(times)
def generate(n):
    out = model.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                         pad_token_id=0, eos_token_id=None)
    assert out.shape[1] == length + n, out.shape
result = {"torch": torch.__version__, "threads": torch.get_num_threads()}
with torch.inference_mode():
    model(ids[:, :16])  # warm-up
    result["prefill_last_s"] = best(lambda: model(ids, logits_to_keep=1), repeat)
    result["prefill_all_s"] = best(lambda: model(ids), repeat)
    generate(2)
    one = best(lambda: generate(1), 2)
    many = best(lambda: generate(steps + 1), 2)
    result["decode_ms"] = (many - one) / steps * 1000
print(json.dumps(result))
"""

TORCH_PACED = TORCH_LOAD + r"""
with torch.inference_mode():
    model(ids[:, :16])  # warm-up
    print("ready", flush=True)
    for line in sys.stdin:  # one pass per line, as `recast bench forward --paced`
        keep = 1 if line.strip() == "last" else 0  # logits_to_keep=0: every position's
        start = time.perf_counter()
        model(ids, logits_to_keep=keep)
        print(f"pass_seconds {time.perf_counter() - start}", flush=True)
"""

LLAMA = r"""
import json, sys, time
import llama_cpp
sys.path.insert(0, sys.argv[6])
from reference import seeded_tokens
path, length, repeat, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
kw = dict(model_path=path, n_ctx=length + steps + 16, n_batch=length, n_ubatch=length, n_threads=threads,
          n_threads_batch=threads, verbose=False)
try:
    llm = llama_cpp.Llama(type_k=0, type_v=0, **kw)  # GGML_TYPE_F32 keys and values
    kv = "F32"
except TypeError:
    llm = llama_cpp.Llama(**kw)
    kv = "default (F16)"
tokens = seeded_tokens(length, 0, llm.n_vocab())
def prefill():
    llm.reset()
    start = time.perf_counter(); llm.eval(tokens); return time.perf_counter() - start
llm.eval(tokens[:16])
prefill_s = min(prefill() for _ in range(repeat))
decode = []
for _ in range(2):
    prefill()
    start = time.perf_counter()
    for t in seeded_tokens(steps, length, llm.n_vocab()):
        llm.eval([t])
    decode.append((time.perf_counter() - start) / steps * 1000)
print(json.dumps({"llama_cpp": llama_cpp.__version__, "kv_cache": kv, "prefill_last_s": prefill_s, "decode_ms": min(decode)}))
"""



def llama_bench(binary, gguf, length, repeat, steps, threads):
    """llama.cpp's own benchmark on the F32 GGUF with its default F16 KV cache (llama-bench offers no F32 cache;
    at 512 tokens the cache is a small part of decode's memory traffic next to 513 MiB of f32 weights): prefill of `length` tokens (pp), and
    decoding `steps` tokens after a context of `length` (tg at depth), best of the repetitions. llama-bench
    feeds its own token ids (a prefill's cost does not depend on which tokens). Peak memory is the larger of
    the two runs'."""
    common = [binary, "-m", gguf, "-t", str(threads), "-o", "json"]
    pp = measure(common + ["-p", str(length), "-n", "0", "-b", str(length), "-ub", str(length), "-r", str(repeat)])
    tg = measure(common + ["-p", "0", "-n", str(steps), "-d", str(length), "-r", "2"])

    def best_ns(r):
        (test,) = json.loads(r.stdout)
        return min(test["samples_ns"]), test

    pp_ns, info = best_ns(pp)
    tg_ns, _ = best_ns(tg)
    return {"build": f"{info.get('build_number', '?')} ({info.get('build_commit', '?')})", "kv_cache": "F16",
            "prefill_last_s": pp_ns / 1e9, "decode_ms": tg_ns / 1e6 / steps, "peak": max(pp.peak_bytes, tg.peak_bytes)}

def lockstep(engines, kinds, pairs):
    """Prefill passes of several engines alternated one by one: each engine a process that loads its model once,
    prints 'ready', then runs one pass per line read ('all' or 'last') and prints 'pass_seconds S'. One warm-up
    pass per kind, then `pairs` passes of each engine per kind, the engines' order reversed every other time.
    Returns {kind: {engine: [seconds per pass]}}: pass i of two engines ran next to each other in time."""
    procs, errors = {}, {}

    def read_until(name, prefix, when):
        """The first line of `name`'s output that starts with `prefix`; exits with its stderr if it ends first."""
        while line := procs[name].stdout.readline():
            if line.startswith(prefix):
                return line
        errors[name].seek(0)
        raise SystemExit(f"{name} ended {when}:\n{errors[name].read().decode(errors='replace')[-3000:]}")

    try:
        for name, cmd, env in engines:
            errors[name] = tempfile.TemporaryFile()
            procs[name] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors[name],
                                           text=True, env=env, cwd=ROOT)
        for name in procs:
            read_until(name, "ready", "before it was ready")

        def one(name, kind):
            procs[name].stdin.write(kind + "\n")
            procs[name].stdin.flush()
            return float(read_until(name, "pass_seconds", "during a pass").split()[1])

        times = {kind: {name: [] for name in procs} for kind in kinds}
        for kind in kinds:
            for name in procs:
                one(name, kind)  # warm-up
        for i in range(pairs):
            order = list(procs) if i % 2 == 0 else list(reversed(procs))
            for kind in kinds:
                for name in order:
                    times[kind][name].append(one(name, kind))
        return times
    finally:
        for p in procs.values():
            if p.stdin:
                p.stdin.close()
            p.wait()
        for f in errors.values():
            f.close()


def sh(cmd, env=None):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return r


def fields(text, key):
    """The numbers after `key` in `recast bench` output, one per line that has it."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if key in words:
            out.append(float(words[words.index(key) + 1]))
    return out


def safetensors_bytes(folder):
    """Bytes of tensor data in a folder's safetensors files (from their headers)."""
    total = 0
    for name in os.listdir(folder):
        if name.endswith(".safetensors"):
            with open(os.path.join(folder, name), "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(n))
            total += sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__")
    return total


def kv_cache_bytes(config, tokens):
    """An f32 KV cache of `tokens` tokens: keys and values of every layer."""
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    return 2 * config["num_hidden_layers"] * tokens * config.get("num_key_value_heads", heads) * head_dim * 4


def licence_prompt(words):
    with open("/usr/share/common-licenses/GPL-3", encoding="utf-8") as f:
        return " ".join(f.read().split()[:words])


def openblas_core():
    """The kernels the system OpenBLAS (the one Recast loads) picks here: OPENBLAS_CORETYPE, else its CPU
    detection. Asked in a child, so this process stays small (ru_maxrss is inherited across fork)."""
    code = ("import ctypes; lib = ctypes.CDLL('libopenblas.so.0'); "
            "lib.openblas_get_corename.restype = ctypes.c_char_p; print(lib.openblas_get_corename().decode())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "unknown"


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def median_figures(measured):
    """The median of each numeric figure over rounds (other fields from the first round)."""
    out = dict(measured[0])
    for key, value in out.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(m[key] for m in measured)
    return out


def verdict(ok):
    return "meets" if ok else "MISSES"

PERF_GROUPS = [  # (group, substrings of the sampled function or its stack), first match wins
    ("exp (softmax, SiLU)", ["expf"]),
    ("allocation, zeroing, page faults", ["page fault", "memset", "malloc", "free", "swift_release", "swift_retain",
                                          "_allocate", "Array.append", "ContiguousArray", "swift_allocObject", "mmap"]),
    ("rotary angles (cos, sin, pow)", ["cos_fma", "sin_fma", "pow", "sincos"]),
    ("NaN / infinity checks", ["checkFinite"]),
    ("activation (SiLU, GELU)", ["Kernels.activate"]),
    ("norms", ["Kernels.normalize"]),
    ("feature maps", ["FeatureMap"]),
    ("attention loops (masking, softmax sums, state updates)", ["attention", "Decoder.attend"]),
]


def blas_site(kind, ta, tb, m, n, k, config):
    """The call site a BLAS call's shape identifies (the model's sizes tell the products apart)."""
    hidden, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    out, inner = (n, k) if kind == "gemm" else (m, n)
    if out == vocab:
        return "LM head"
    if inner == hidden and out == inter:
        return "MLP gate and up"
    if inner == inter and out == hidden:
        return "MLP down"
    if inner == hidden and (kind == "gemv" or tb == 1):  # weights [out, in], as Linear stores them
        return "attention projections (q, k, v, o)"
    return "attention (scores, context, feature maps, linear state)"


def profile(a, recast, model, swapped, config):
    """One-thread runs under tools/blas_profile.c (BLAS time by call shape, as the calling thread's CPU time,
    which a busy machine inflates less than wall time) and, where `perf` works, a sampled profile of the
    rest, grouped by what the functions do."""
    shim = os.path.join(a.work, "blas_profile.so")
    sh(["cc", "-O2", "-shared", "-fPIC", "-o", shim, os.path.join(ROOT, "tools", "blas_profile.c"), "-ldl"])
    perf = shutil.which("perf") is not None and \
        subprocess.run(["perf", "stat", "-e", "task-clock", "true"], capture_output=True).returncode == 0
    T, S = a.length, a.steps
    jobs = [(f"prefill {T} tokens, all logits", model, ["forward", "--length", str(T), "--repeat", "1"]),
            (f"prefill {T} tokens, last logits", model, ["forward", "--length", str(T), "--repeat", "1", "--logits", "last"]),
            (f"decode after {T} tokens ({S} steps)", model, ["decode", "--lengths", str(T), "--steps", str(S)]),
            (f"Hedgehog swap, decode after {a.long} ({S} steps)", swapped, ["decode", "--lengths", str(a.long), "--steps", str(S)])]
    print(f"profile: OPENBLAS_NUM_THREADS=1, CPU seconds of the calling thread; load average {load_average()}")
    for title, path, args in jobs:
        table = os.path.join(a.work, "blas-calls.tsv")
        # Through env(1), so that perf itself does not load the shim (its exit would rewrite the table).
        cmd = ["env", "OPENBLAS_NUM_THREADS=1", f"BLAS_PROFILE_OUT={table}", f"LD_PRELOAD={shim}",
               recast, "bench", args[0], path] + args[1:]
        data = os.path.join(a.work, "perf.data")
        if perf:
            cmd = ["perf", "record", "-q", "-F", "499", "-g", "-o", data, "--"] + cmd
        r = measure(cmd)
        sites = {}
        for line in open(table):
            kind, ta, tb, m, n, k, calls, wall, cpu = line.split("\t")
            m, n, k = int(m), int(n), int(k)
            site = blas_site(kind, int(ta), int(tb), m, n, k, config)
            flops = 2 * m * n * (k if kind == "gemm" else 1) * int(calls)
            c, f, cs = sites.get(site, (0, 0, 0.0))
            sites[site] = (c + int(calls), f + flops, cs + float(cpu))
        blas = sum(v[2] for v in sites.values())
        print(f"\n{title}: {r.stdout.strip()}")
        print(f"  {'BLAS call site':<58} {'calls':>7} {'CPU s':>7} {'GFLOP/s':>8} {'share':>6}")
        for site, (calls, flops, cpu) in sorted(sites.items(), key=lambda x: -x[1][2]):
            print(f"  {site:<58} {calls:7d} {cpu:7.3f} {flops / max(cpu, 1e-9) / 1e9:8.1f} {cpu / blas:6.1%}")
        if perf:
            groups, compute = perf_groups(data)
            print(f"  sampled, compute phase only ({compute} samples; load excluded):")
            for group, share in groups:
                print(f"    {share:6.1%}  {group}")


def perf_groups(data):
    """Shares of the compute phase (samples under Transformer.forward or Decoder.step, and BLAS) by group."""
    script = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,dso"], capture_output=True, text=True).stdout
    demangled = subprocess.run(["swift", "demangle", "--simplified"], input=script, capture_output=True, text=True).stdout
    counts, compute = {}, 0
    for sample in demangled.split("\n\n"):
        frames = [f.strip().split(" ", 1)[-1] for f in sample.strip().splitlines()]
        if not frames:
            continue
        stack = "\n".join(frames)
        top = frames[0]
        if "libopenblas" in top or "libblas" in top:
            group = "BLAS"
        elif any(w in stack for w in ("Transformer.init", "loadTransformer", "simulateHistory")):
            continue
        elif "Transformer.forward" in stack or "Decoder.step" in stack:
            leaf = top if "kernel.kallsyms" not in top else "page fault"
            inner = next((f for f in frames if "(/" in f and "recast" in f.rsplit("(", 1)[-1]), "")
            group = next((g for g, words in PERF_GROUPS if any(w in leaf for w in words)), None) \
                or next((g for g, words in PERF_GROUPS if any(w in inner for w in words)), "other")
        else:
            continue
        compute += 1
        counts[group] = counts.get(group, 0) + 1
    return sorted(((g, c / max(compute, 1)) for g, c in counts.items()), key=lambda x: -x[1]), compute


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(ROOT, ".cache", "bench-runtime"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--length", type=int, default=512, help="prefill tokens; decode context")
    ap.add_argument("--long", type=int, default=4096, help="the swapped model's long decode context")
    ap.add_argument("--repeat", type=int, default=3, help="prefill passes (best is kept)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of measuring every engine once (medians are reported)")
    ap.add_argument("--pairs", type=int, default=10,
                    help="prefill passes of Recast and PyTorch alternated one by one, for the prefill ratios")
    ap.add_argument("--steps", type=int, default=16, help="decoded tokens timed")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-llama", action="store_true")
    ap.add_argument("--llama-bench", help="llama.cpp's llama-bench binary (default: the one tools/build_llama_cpp.sh "
                                          "builds in .cache/llama.cpp, when present)")
    ap.add_argument("--skip-memory", action="store_true", help="skip run, generate and verify")
    ap.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    ap.add_argument("--recast", help="this recast binary instead of building .build/release/recast")
    ap.add_argument("--profile", action="store_true",
                    help="instead of the comparison: where Recast's prefill and decode time goes (one thread)")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)

    if not a.no_build and not a.recast:
        sh(["swift", "build", "-c", "release", "--product", "recast"])
    recast = os.path.abspath(a.recast) if a.recast else os.path.join(ROOT, ".build", "release", "recast")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads))
    gguf = sh([sys.executable, os.path.join(ROOT, "tools", "models.py"), "smollm2-gguf"]).stdout.strip().splitlines()[-1]
    model = os.path.join(a.work, "smollm2-f32")
    swapped = os.path.join(a.work, "smollm2-hedgehog")
    if not os.path.exists(os.path.join(model, "config.json")):
        sh([recast, "convert", gguf, model, "--force"])
    if not os.path.exists(os.path.join(swapped, "config.json")):
        sh([recast, "swap", model, swapped, "--feature-map", "hedgehog", "--layers", "all", "--seed", "0", "--force"])
    config = json.load(open(os.path.join(model, "config.json")))
    weights = safetensors_bytes(model)
    tools = os.path.join(ROOT, "tools")
    T, N, S = a.length, a.repeat, a.steps
    coretype = os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    print(f"SmolLM2-135M f32 ({weights / MiB:.0f} MiB of weights), {a.threads} threads, OPENBLAS_CORETYPE={coretype} "
          f"(OpenBLAS core {openblas_core()}), "
          f"prefill {T} tokens best of {N}, decode {S} tokens after {T}; load average {load_average()} on "
          f"{os.cpu_count()} cores", flush=True)
    if a.profile:
        return profile(a, recast, model, swapped, config)
    figures = {"threads": a.threads, "openblas_coretype": coretype, "length": T, "weights_bytes": weights}

    # Each round measures every engine once, in an order that rotates from round to round; the figures
    # reported are medians over the rounds, and each target's ratio is the median of its per-round ratios.
    # The machine's speed drifts by tens of percent over minutes, so peers are compared within a round.
    bench_binary = a.llama_bench or os.path.join(ROOT, ".cache", "llama.cpp", "build", "bin", "llama-bench")
    llama_kind = None
    llama_note = ("llama.cpp: not measured (no llama-bench: `bash tools/build_llama_cpp.sh` builds it; "
                  "llama_cpp is not importable); the issue's anchors are used")
    if not a.skip_llama:
        have_python = subprocess.run([sys.executable, "-c", "import llama_cpp"], capture_output=True).returncode == 0
        llama_kind = "bench" if os.path.exists(bench_binary) else ("python" if have_python else None)
        f32_gguf = os.path.join(a.work, "smollm2-f32.gguf")
        if llama_kind and not os.path.exists(f32_gguf):
            sh([recast, "convert", gguf, f32_gguf, "--dtype", "f32", "--force"])
    if not a.skip_torch:
        # Checked in a child: importing torch here would raise this process's peak memory, which every
        # child started later inherits as its starting ru_maxrss.
        if subprocess.run([sys.executable, "-c", "import torch, transformers"], capture_output=True).returncode != 0:
            raise SystemExit("torch and transformers are missing: python3 -m pip install torch==2.13.0, then "
                             "python3 -m pip install -r tools/requirements-bench.txt (or pass --skip-torch)")

    def measure_recast():
        last = measure([recast, "bench", "forward", model, "--length", str(T), "--repeat", str(N), "--logits", "last"], env=env)
        full = measure([recast, "bench", "forward", model, "--length", str(T), "--repeat", str(N)], env=env)
        dec = measure([recast, "bench", "decode", model, "--lengths", f"{T},{a.long}", "--steps", str(S)], env=env)
        sdec = measure([recast, "bench", "decode", swapped, "--lengths", f"{T},{a.long}", "--steps", str(S)], env=env)
        swapped_ms = fields(sdec.stdout, "ms_per_token")
        return {"prefill_last_s": fields(last.stdout, "forward_seconds")[0],
                "prefill_all_s": fields(full.stdout, "forward_seconds")[0],
                "decode_ms": fields(dec.stdout, "ms_per_token")[0],
                "decode_long_ms": fields(dec.stdout, "ms_per_token")[1],
                "swapped_decode_ms": swapped_ms[0], "swapped_decode_long_ms": swapped_ms[1],
                "prefill_peak": full.peak_bytes, "prefill_last_peak": last.peak_bytes, "decode_peak": dec.peak_bytes}

    def measure_torch():
        r = measure([sys.executable, "-c", TORCH, model, str(T), str(a.threads), tools, str(N), str(S)])
        return json.loads(r.stdout.strip().splitlines()[-1]) | {"peak": r.peak_bytes}

    def measure_llama():
        if llama_kind == "bench":
            return llama_bench(bench_binary, f32_gguf, T, N, S, a.threads)
        r = measure([sys.executable, "-c", LLAMA, f32_gguf, str(T), str(N), str(S), str(a.threads), tools])
        return json.loads(r.stdout.strip().splitlines()[-1]) | {"peak": r.peak_bytes}

    engines = [("recast", measure_recast)]
    if not a.skip_torch:
        engines.append(("pytorch", measure_torch))
    if llama_kind:
        engines.append(("llama.cpp", measure_llama))
    rounds = []
    for r in range(a.rounds):
        order = engines[r % len(engines):] + engines[:r % len(engines)]
        measured = {name: f() for name, f in order}
        rounds.append(measured)
        print(f"round {r + 1}/{a.rounds} ({', '.join(n for n, _ in order)}): "
              + "; ".join(f"{n} prefill {m['prefill_last_s']:.3f} s, decode {m['decode_ms']:.1f} ms"
                          for n, m in measured.items()) + f"; load average {load_average()}", flush=True)
    figures["rounds"] = rounds
    paced = None
    if not a.skip_torch and a.pairs > 0:
        paced = lockstep([("recast", [recast, "bench", "forward", model, "--length", str(T), "--paced"], env),
                          ("pytorch", [sys.executable, "-c", TORCH_PACED, model, str(T), str(a.threads), tools], None)],
                         ["last", "all"], a.pairs)
        figures["lockstep"] = paced
        for kind in ("last", "all"):
            r, p = paced[kind]["recast"], paced[kind]["pytorch"]
            print(f"lockstep prefill ({kind} logits), {a.pairs} alternated passes each: recast median "
                  f"{statistics.median(r):.3f} s (best {min(r):.3f}), pytorch median {statistics.median(p):.3f} s "
                  f"(best {min(p):.3f}); ratios of neighbouring passes: {' '.join(f'{x / y:.2f}' for x, y in zip(r, p))}",
                  flush=True)
    rows = {name: median_figures([m[name] for m in rounds]) for name, _ in engines}
    rc = rows["recast"]
    swapped_ms = [rc["swapped_decode_ms"], rc["swapped_decode_long_ms"]]
    figures["swapped_decode_ms"] = {str(T): swapped_ms[0], str(a.long): swapped_ms[1]}
    if llama_kind == "bench":
        llama_note = (f"llama.cpp: llama-bench build {rows['llama.cpp']['build']}, F32 GGUF, F16 KV cache "
                      f"(prefill: pp{T}; decode: tg{S} at depth {T})")
    elif llama_kind == "python":
        llama_note = f"llama.cpp: llama-cpp-python {rows['llama.cpp']['llama_cpp']}, F32 GGUF, {rows['llama.cpp']['kv_cache']} KV cache"
    figures["engines"] = rows
    llama = rows.get("llama.cpp")
    ref_name = "llama.cpp" if llama else "llama.cpp anchor"

    def ms(x):
        return f"{x:8.1f}" if x is not None else "       –"

    def sec(x):
        return f"{x:7.3f}" if x is not None else "      –"

    print()
    print(f"medians of {a.rounds} rounds:")
    print(f"{'engine':<10} {'prefill last (s)':>17} {'prefill all (s)':>16} {'decode (ms/token)':>18} {'peak (MiB)':>11}")
    print(f"{'recast':<10} {sec(rc['prefill_last_s']):>17} {sec(rc['prefill_all_s']):>16} {ms(rc['decode_ms']):>18} "
          f"{rc['prefill_peak'] / MiB:7.0f} / {rc['decode_peak'] / MiB:.0f} (prefill all / decode)")
    if "pytorch" in rows:
        p = rows["pytorch"]
        print(f"{'pytorch':<10} {sec(p['prefill_last_s']):>17} {sec(p['prefill_all_s']):>16} {ms(p['decode_ms']):>18} "
              f"{p['peak'] / MiB:7.0f} (whole script; torch {p['torch']}, {p['threads']} threads)")
    if llama:
        print(f"{'llama.cpp':<10} {sec(llama['prefill_last_s']):>17} {'–':>16} {ms(llama['decode_ms']):>18} {llama['peak'] / MiB:7.0f}")
    else:
        print(f"{'(anchor)':<10} {sec(LLAMA_ANCHOR['prefill_s']):>17} {'–':>16} {ms(LLAMA_ANCHOR['decode_ms']):>18} "
              f"{LLAMA_ANCHOR['peak_mib']:7.0f} (llama.cpp F32, issue 12, 2026-11-30)")
    print(llama_note)
    print(f"recast decode at {a.long}: {rc['decode_long_ms']:.1f} ms/token (KV cache); Hedgehog swap: {swapped_ms[0]:.1f} ms/token "
          f"at {T}, {swapped_ms[1]:.1f} at {a.long}")

    def ratio(engine, key, ref_engine, ref_key, fallback=None):
        """The median over rounds of recast's figure over the reference's, measured in the same round."""
        values = []
        for m in rounds:
            ref = m[ref_engine][ref_key] if ref_engine in m else fallback
            values.append(m[engine][key] / ref)
        return statistics.median(values), values

    targets = []
    if paced:
        for kind in ("last", "all"):
            each = [x / y for x, y in zip(paced[kind]["recast"], paced[kind]["pytorch"])]
            targets.append((f"prefill ({kind} logits) ≤ PyTorch's, lockstep", statistics.median(each), each, 1.0))
    if "pytorch" in rows:
        targets.append(("prefill (last logits) ≤ PyTorch's, rounds", *ratio("recast", "prefill_last_s", "pytorch", "prefill_last_s"),
                        None if paced else 1.0))
        targets.append(("prefill (all logits) ≤ PyTorch's, rounds", *ratio("recast", "prefill_all_s", "pytorch", "prefill_all_s"),
                        None if paced else 1.0))
        targets.append(("decode vs PyTorch (no target)", *ratio("recast", "decode_ms", "pytorch", "decode_ms"), None))
    targets.append((f"prefill (last logits) ≤ 1.2× {ref_name}",
                    *ratio("recast", "prefill_last_s", "llama.cpp", "prefill_last_s", LLAMA_ANCHOR["prefill_s"]), 1.2))
    targets.append((f"decode ≤ 1.1× {ref_name}", *ratio("recast", "decode_ms", "llama.cpp", "decode_ms", LLAMA_ANCHOR["decode_ms"]), 1.1))
    targets.append((f"swapped decode at {a.long} ≤ 1.1× at {T}",
                    *ratio("recast", "swapped_decode_long_ms", "recast", "swapped_decode_ms"), 1.1))

    if not a.skip_memory:
        out = os.path.join(a.work, "run-out.safetensors")
        state_T = kv_cache_bytes(config, T)
        memory = {}
        for outputs in ("last_logits", "logits"):
            r = measure([recast, "run", model, "--length", str(T), "--seed", "0", "--outputs", outputs, "--out", out, "--force"], env=env)
            memory[f"run --outputs {outputs}"] = (r.peak_bytes, weights + state_T)
        prompt = licence_prompt(300)
        g = measure([recast, "generate", model, "--prompt", prompt, "--max-tokens", "64"], env=env)
        held = int(g.stderr.split("prompt: ")[1].split()[0]) + int(g.stderr.split("generated: ")[1].split()[0])
        memory["generate"] = (g.peak_bytes, weights + kv_cache_bytes(config, held))
        figures["generate"] = g.stderr.strip().splitlines()[-3:]
        v = measure([recast, "verify", model, swapped, "--text", licence_prompt(100)], env=env)
        memory["verify original vs swapped"] = (v.peak_bytes, None)
        figures["memory"] = {k: {"peak": p, "weights_plus_state": b} for k, (p, b) in memory.items()}
        print()
        print(f"{'process':<28} {'peak (MiB)':>11} {'weights+state (MiB)':>20} {'ratio':>7}")
        for name, (peak, bound) in memory.items():
            tail = f"{bound / MiB:20.0f} {peak / bound:7.2f}" if bound else f"{'':>20} {'':>7}"
            print(f"{name:<28} {peak / MiB:11.0f} {tail}")
        print(f"(state: the f32 KV cache of the tokens held, {T} for run, {held} for generate: "
              f"{' | '.join(figures['generate'])})")
        for name in ("run --outputs last_logits", "generate"):
            peak, bound = memory[name]
            targets.append((f"{name} peak ≤ 1.25 × (weights + state)", peak / bound, [], 1.25))
        targets.append(("verify peak < 1.2 GB (ratio to 1.2e9 B)", memory["verify original vs swapped"][0] / 1.2e9, [], 1.0))

    print()
    print(f"targets of issue 12 (ratio: recast / reference; the median of the {a.rounds} rounds' ratios, each round's after it):")
    for name, value, per_round, limit in targets:
        each = f"  ({', '.join(f'{v:.2f}' for v in per_round)})" if len(per_round) > 1 else ""
        print(f"  {name:<48} {value:6.2f}  " + (verdict(value <= limit) if limit is not None else "      ") + each)
    print(f"load average at the end: {load_average()}")
    if float(load_average().split()[0]) > (os.cpu_count() or 1):
        print("warning: the machine was busy (load above its cores): wall times are inflated, PyTorch's OpenMP threads "
              "most of all; the peaks stand, but rerun the timings on a quiet machine before quoting them")
    figures["targets"] = [{"target": n, "ratio": r, "per_round": pr, "limit": lim} for n, r, pr, lim in targets]
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
