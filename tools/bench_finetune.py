#!/usr/bin/env python3
"""Training speed and generation memory in PyTorch: SmolLM2-135M swapped with a window against the original.

    RECAST_MODEL_CACHE=/work/main/.cache/models python3 tools/bench_finetune.py [--recast .build/debug/recast]
        [--tokens 512] [--long 4096] [--repeat 3] [--threads 2] [--map hedgehog] [--window 64] [--json FILE]

Never run in CI. In one run, on the same f32 weights (tools/models.py smollm2) and the same random tokens:
  train step  forward and backward of the next-token loss on --tokens tokens, batch 1, best of --repeat
              (the original through transformers' LlamaForCausalLM, the swap `recast swap … --window W`
              through its modeling_recast.py);
  state       the bytes the generation cache holds after --long tokens (fed 512 at a time with
              use_cache=True): the original's KV cache grows with the length, the swap's (S, z) plus the
              window ring does not (measured at --long and --long / 8);
  peak        the process's peak resident memory after each prefill (ru_maxrss; the original is measured
              first, so the swap's figure is max(original, swap)).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def cache_bytes(cache) -> int:
    total = 0
    for layer in cache.layers:
        for name in ("keys", "values", "S", "z"):
            t = getattr(layer, name, None)
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()
        for t in (getattr(layer, "ring", None) or {}).values():
            total += t.numel() * t.element_size()
    return total


def train_step(model, ids, repeat):
    best = float("inf")
    for _ in range(repeat):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        best = min(best, time.perf_counter() - start)
    return best


def state_after(model, length, vocab, chunk=512):
    """The cache's bytes after `length` tokens, fed `chunk` at a time as a long generation would be."""
    ids = torch.randint(0, vocab, (1, length), generator=torch.Generator().manual_seed(1))
    cache = None
    with torch.no_grad():
        for start in range(0, length, chunk):
            out = model(input_ids=ids[:, start:start + chunk], cache=cache, use_cache=True, logits_to_keep=1)
            cache = out.cache
    return cache_bytes(cache)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recast", default=os.path.join(os.path.dirname(HERE), ".build", "debug", "recast"))
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--long", type=int, default=4096)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--map", default="hedgehog")
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    original = subprocess.run([sys.executable, os.path.join(HERE, "models.py"), "smollm2"], check=True,
                              capture_output=True, text=True).stdout.strip()
    work = tempfile.mkdtemp(prefix="bench-finetune-")
    swapped = os.path.join(work, "swapped")
    subprocess.run([args.recast, "swap", original, swapped, "--feature-map", args.map, "--window", str(args.window)],
                   check=True, capture_output=True)
    results = {}
    for name, folder in (("original", original), ("swapped", swapped)):
        model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32)
        vocab = model.config.vocab_size
        ids = torch.randint(0, vocab, (1, args.tokens), generator=torch.Generator().manual_seed(0))
        model.train()
        step = train_step(model, ids, args.repeat)
        model.eval()
        short = state_after(model, args.long // 8, vocab)
        long = state_after(model, args.long, vocab)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results[name] = {"train_step_s": step, f"state_bytes_{args.long // 8}": short, f"state_bytes_{args.long}": long,
                         "peak_mib": peak}
        print(f"{name:9s} train step ({args.tokens} tokens) {step:.3f} s; generation state {short / 2**20:.1f} MiB at "
              f"{args.long // 8}, {long / 2**20:.1f} MiB at {args.long}; peak {peak:.0f} MiB", flush=True)
        del model
    ratio = results["swapped"]["train_step_s"] / results["original"]["train_step_s"]
    print(f"swapped/original train step: {ratio:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
