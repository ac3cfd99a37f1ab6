#!/usr/bin/env python3
"""Times tokenizers' Split pre-tokenizer with the GPT-2 pattern on /usr/share/common-licenses/* (best of 5).
The Recast side, on the same text:
  swiftc -O -o /tmp/bench_pretokenize Sources/Tokenizer/Regex/*.swift Sources/Tokenizer/NormalizedString.swift \
      tools/bench_pretokenize_main.swift && /tmp/bench_pretokenize"""
import os, time
from tokenizers import pre_tokenizers as P, Regex
d = "/usr/share/common-licenses"
text = "".join(open(os.path.join(d, f), encoding="utf-8", errors="ignore").read() for f in sorted(os.listdir(d)) if os.path.isfile(os.path.join(d, f)))
sp = P.Split(Regex(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"), "isolated")
best = 1e9
for _ in range(5):
    t = time.perf_counter(); r = sp.pre_tokenize_str(text); best = min(best, time.perf_counter() - t)
n = len(text.encode())
print(f"bytes {n} pieces {len(r)} best {best*1000:.1f} ms {n/best/1e6:.1f} MB/s")

# The same split inside a Rust-side encode (a one-entry WordLevel model, so nearly all the time is the split).
from tokenizers import Tokenizer, models
tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
tok.pre_tokenizer = sp
best = 1e9
for _ in range(5):
    t = time.perf_counter(); e = tok.encode(text); best = min(best, time.perf_counter() - t)
print(f"encode (Split + WordLevel): tokens {len(e.ids)} best {best*1000:.1f} ms {n/best/1e6:.1f} MB/s")
