#!/usr/bin/env python3
"""Where a causal model's softmax attention goes, per layer: the share on the first tokens (attention sinks)
and the share beyond a window of the last W positions. It is what decides whether `recast swap --window W
--sinks N` helps: the linear part of the hybrid must reproduce what lies beyond the window, and a spike on
the first token is what a feature map reproduces worst.

    python3 tools/attention_mass.py MODEL TEXT_FILE [--tokens 512] [--window 64] [--sinks 4] [--from 128]

MODEL is a Hugging Face folder transformers loads (for SmolLM2: `recast convert` of its GGUF to f32), TEXT_FILE
any text (tokenized with MODEL's tokenizer.json, the first --tokens tokens). Shares are means over heads and over
query positions --from .. --tokens − 1. Prints, per layer: the share on position 0, on the first --sinks
positions, beyond the window (positions ≤ n − W, sinks included), and beyond the window without the sinks.
"""
import argparse
import os

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("text")
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--sinks", type=int, default=4)
    p.add_argument("--from", dest="start", type=int, default=128)
    a = p.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32, attn_implementation="eager").eval()
    ids = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json")).encode(open(a.text).read()).ids[: a.tokens]
    if len(ids) <= a.start:
        raise SystemExit(f"{a.text}: {len(ids)} tokens, not more than --from {a.start}")
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True)
    queries = torch.arange(a.start, len(ids))
    keys = torch.arange(len(ids))
    beyond = (keys[None, :] <= queries[:, None] - a.window).float()  # [queries, keys]
    print(f"{len(ids)} tokens, queries {a.start}..{len(ids) - 1}, window {a.window}, sinks {a.sinks}")
    print("layer  first  sinks  beyond window  beyond, without the sinks")
    for layer, attention in enumerate(out.attentions):
        w = attention[0][:, queries]  # [heads, queries, keys]
        first = w[..., 0].mean().item()
        sinks = w[..., : a.sinks].sum(-1).mean().item()
        far = (w * beyond).sum(-1).mean().item()
        far_rest = (w * beyond)[..., a.sinks:].sum(-1).mean().item()
        print(f"{layer:5d}  {first:5.2f}  {sinks:5.2f}  {far:13.2f}  {far_rest:25.2f}")


if __name__ == "__main__":
    main()
