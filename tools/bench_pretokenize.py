#!/usr/bin/env python3
"""Times tokenizers' Split pre-tokenizer with the GPT-2 pattern on /usr/share/common-licenses/* (best of 5).
The Recast side: compile Sources/Tokenizer/Regex/*.swift + NormalizedString.swift with a small main (see the
issue-10 text report) with swiftc -O and time NormalizedString.split(.regex(gpt2), .isolated) on the same text."""
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
