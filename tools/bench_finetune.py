#!/usr/bin/env python3
"""Training speed and generation memory in PyTorch: SmolLM2-135M swapped with a window against the original.

    RECAST_MODEL_CACHE=/work/main/.cache/models python3 tools/bench_finetune.py [--recast .build/release/recast]
        [--work .cache/bench-finetune] [--tokens 512[,2048]] [--long 4096] [--repeat 3] [--threads 2]
        [--map hedgehog] [--window 64] [--alternate PAIRS [--control]] [--json FILE]

Never run in CI. The original is tools/models.py smollm2-gguf converted by `recast convert X.gguf FOLDER`
(f32 weights, cached under --work); the swap is `recast swap FOLDER … --feature-map MAP --layers all
--window W --seed 0`, loaded through its modeling_recast.py. Each figure comes from a fresh process
(torch and transformers loaded, the model loaded, then only that measurement), so peaks do not mix:
  train step  forward and backward of the next-token loss on --tokens random tokens (each count of the
              comma-separated list in turn), batch 1, best of --repeat (after one untimed step), in f32 on the CPU;
  state       the bytes the generation cache holds after --long tokens, fed 512 at a time with use_cache=True
              as a prefill would: the original's KV cache grows with the length, the swap's (S, z) plus the
              window ring does not (measured at --long / 8 and --long);
  peak        that process's peak resident memory (ru_maxrss) when the cache holds --long tokens, weights
              included; and the train step's process peak.
With --alternate PAIRS, instead: both models loaded in one process, PAIRS training steps of each in turn at each
--tokens length (after one untimed step of each); the ratio of the medians and of the best steps. Separate
processes meet the machine at different moments, and its speed drifts by tens of percent within minutes.
--control adds a third model to the rotation: the swap with each swapped layer's attention replaced by PyTorch's
SDPA (causal softmax) over the same q, k and v, its feature maps still computed and discarded. It is not a model
anyone would train; it splits the swap's extra time into the hybrid's (swap − control) and the rest's (control −
original).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHUNK = 512


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cache_bytes(cache) -> int:
    """Every tensor a generation cache holds: KV layers' keys and values, linear layers' S, z and window ring."""
    import torch

    total = 0
    for layer in cache.layers:
        tensors = [getattr(layer, name, None) for name in ("keys", "values", "S", "z")]
        tensors += list((getattr(layer, "ring", None) or {}).values())
        total += sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))
    return total


def measure(kind: str, folder: str, tokens: int, long: int, repeat: int, threads: int) -> dict:
    """One measurement in this process: "train" (the step time) or "state" (the cache after `long` tokens)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32)
    vocab = model.config.vocab_size
    if kind == "train":
        model.train()
        ids = torch.randint(0, vocab, (1, tokens), generator=torch.Generator().manual_seed(0))
        times = [train_step(model, ids) for _ in range(repeat + 1)]  # the first (allocations, kernel choice) untimed
        return {"train_step_s": min(times[1:]), "train_peak_mib": peak_mib()}
    model.eval()
    ids = torch.randint(0, vocab, (1, long), generator=torch.Generator().manual_seed(1))
    out, cache = {}, None
    with torch.no_grad():
        for start in range(0, long, CHUNK):
            cache = model(input_ids=ids[:, start:start + CHUNK], cache=cache, use_cache=True, logits_to_keep=1).cache
            seen = min(start + CHUNK, long)
            if seen in (long // 8, long):
                out[f"state_bytes_{seen}"] = cache_bytes(cache)
    out["state_peak_mib"] = peak_mib()
    return out


def train_step(model, ids) -> float:
    """Seconds of one forward and backward of the next-token loss on `ids`, gradients cleared first."""
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    model(input_ids=ids, labels=ids).loss.backward()
    return time.perf_counter() - start


def sdpa_attend(self, q, k, v, fq, fk, kwargs, cache, causal):
    """--control's replacement for a swapped layer's `attend`: causal softmax over q, k, v (φ_q, φ_k ignored)."""
    import torch

    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=self.scaling)
    return out.transpose(1, 2).reshape(v.shape[0], v.shape[2], -1)


def alternate(original: str, swapped: str, tokens: int, pairs: int, threads: int, control: bool = False) -> dict:
    """Both models in this process (and with `control` the swap with SDPA in place of its hybrid), one training
    step of each in turn (after one untimed step of each), so that the machine's drift, which moves separate
    processes by tens of percent, falls on all alike."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    folders = (original, swapped, swapped) if control else (original, swapped)
    models = [AutoModelForCausalLM.from_pretrained(f, trust_remote_code=True, dtype=torch.float32).train()
              for f in folders]
    if control:
        for layer in models[2].model.layers:
            layer.self_attn.attend = sdpa_attend.__get__(layer.self_attn)
    ids = torch.randint(0, models[0].config.vocab_size, (1, tokens), generator=torch.Generator().manual_seed(0))
    times = tuple([] for _ in models)
    for round in range(pairs + 1):
        for model, record in zip(models, times):
            seconds = train_step(model, ids)
            if round:
                record.append(seconds)
    medians = [statistics.median(t) for t in times]
    result = {"tokens": tokens, "pairs": pairs, "original_s": times[0], "swapped_s": times[1],
              "ratio_of_medians": medians[1] / medians[0], "ratio_of_best": min(times[1]) / min(times[0])}
    if control:
        result["control_s"] = times[2]
        result["control_ratio_of_medians"] = medians[2] / medians[0]
    return result


def child(args, kind: str, folder: str, tokens: int) -> dict:
    """`measure` in a fresh Python process."""
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure", kind, folder, "--tokens", str(tokens),
                        "--long", str(args.long), "--repeat", str(args.repeat), "--threads", str(args.threads)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"measuring {kind} of {folder} failed:\n{r.stderr}")
    return json.loads(r.stdout)


def sh(args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recast", default=os.path.join(ROOT, ".build", "release", "recast"))
    p.add_argument("--work", default=os.path.join(ROOT, ".cache", "bench-finetune"))
    p.add_argument("--tokens", default="512", help="train-step lengths, comma-separated")
    p.add_argument("--long", type=int, default=4096, help="a multiple of 8 × 512")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--map", default="hedgehog")
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--alternate", type=int, metavar="PAIRS",
                   help="instead: both models in one process, PAIRS training steps of each in turn at each --tokens")
    p.add_argument("--control", action="store_true",
                   help="with --alternate: also the swap with SDPA in place of its hybrid (see above)")
    p.add_argument("--json")
    p.add_argument("--measure", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        json.dump(measure(*args.measure, int(args.tokens), args.long, args.repeat, args.threads), sys.stdout)
        return
    if args.control and not args.alternate:
        raise SystemExit("--control is a third model of --alternate's rotation: give --alternate PAIRS too")
    if args.long % (8 * CHUNK):
        raise SystemExit(f"--long {args.long} is not a multiple of {8 * CHUNK}")
    os.makedirs(args.work, exist_ok=True)
    gguf = sh([sys.executable, os.path.join(HERE, "models.py"), "smollm2-gguf"]).strip().splitlines()[-1]
    original = os.path.join(args.work, "smollm2-f32")
    if not os.path.exists(os.path.join(original, "config.json")):
        sh([args.recast, "convert", gguf, original, "--force"])
    swapped = os.path.join(args.work, f"smollm2-{args.map}-w{args.window}")
    sh([args.recast, "swap", original, swapped, "--feature-map", args.map, "--layers", "all", "--window", str(args.window),
        "--seed", "0", "--force"])
    lengths = [int(x) for x in args.tokens.split(",")]
    if args.alternate:
        print(f"SmolLM2-135M f32, PyTorch CPU, {args.threads} threads; original and {args.map} w{args.window} in one "
              f"process, {args.alternate} training steps of each in turn; load average {os.getloadavg()[0]:.1f}", flush=True)
        runs = [alternate(original, swapped, n, args.alternate, args.threads, args.control) for n in lengths]
        for r in runs:
            print(f"{r['tokens']} tokens: original median {statistics.median(r['original_s']):.3f} s (best "
                  f"{min(r['original_s']):.3f}), swapped median {statistics.median(r['swapped_s']):.3f} s (best "
                  f"{min(r['swapped_s']):.3f}); swapped/original {r['ratio_of_medians']:.3f} by medians, "
                  f"{r['ratio_of_best']:.3f} by best steps", flush=True)
            if args.control:
                print(f"{r['tokens']} tokens: control (the swap with SDPA in place of its hybrid) median "
                      f"{statistics.median(r['control_s']):.3f} s (best {min(r['control_s']):.3f}); control/original "
                      f"{r['control_ratio_of_medians']:.3f} by medians", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(runs, f, indent=2)
        return
    print(f"SmolLM2-135M f32, PyTorch CPU, {args.threads} threads; train step: {args.tokens} tokens, batch 1, best of "
          f"{args.repeat}; state after {args.long // 8} and {args.long} tokens (fed {CHUNK} at a time); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    results = {}
    for name, folder in (("original", original), (f"{args.map} w{args.window}", swapped)):
        row = child(args, "state", folder, lengths[0])
        steps = [child(args, "train", folder, n) for n in lengths]
        row["train_step_s"] = {n: s["train_step_s"] for n, s in zip(lengths, steps)}
        row["train_peak_mib"] = {n: s["train_peak_mib"] for n, s in zip(lengths, steps)}
        results[name] = row
        short, long = row[f"state_bytes_{args.long // 8}"], row[f"state_bytes_{args.long}"]
        train = ", ".join(f"{row['train_step_s'][n]:.2f} s at {n} tokens (peak {row['train_peak_mib'][n]:.0f} MiB)"
                          for n in lengths)
        print(f"{name:13s} train step {train}; generation state {short / 2**20:.1f} MiB at {args.long // 8}, "
              f"{long / 2**20:.1f} MiB at {args.long} tokens (peak {row['state_peak_mib']:.0f} MiB)", flush=True)
    first, second = results.values()
    for n in lengths:
        print(f"swapped/original train step at {n} tokens: {second['train_step_s'][n] / first['train_step_s'][n]:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
