#!/usr/bin/env python3
"""Tokenizer throughput: `recast tokenize` against Hugging Face `tokenizers` on one thread, in one run.

    python3 tools/bench_tokenize.py [--mb 10] [--work bench-work/tokenize] [--models minilm,smollm2] [--no-build]
                                    [--repeat 3]

Builds Recast in release mode (unless --no-build) and writes a text of about --mb MB: the texts of
/usr/share/common-licenses concatenated until the size is reached. Then, for the all-MiniLM-L6-v2 and
SmolLM2-135M-Instruct tokenizers (tools/models.py minilm, smollm2):

  document  `recast tokenize MODEL --text-file TEXT` (the whole process: reading tokenizer.json, encoding,
            printing the ids)  vs  `tokenizers`' encode(TEXT) (the encode call alone)
  lines     `recast tokenize MODEL --lines TEXT` (one sequence per non-blank line)  vs  encode_batch of the
            same lines

`tokenizers` runs with RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false. Each side is timed
--repeat times and the best is kept; MB/s counts the text's bytes. Recast's time is also shown without its
start-up (a run on a one-word text: loading tokenizer.json). Recast's ids are checked against
`tokenizers`' in the same run. Not run by the tests: the figures depend on the machine.
"""
import argparse
import glob
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

PEER = r"""
import os, sys, time
from tokenizers import Tokenizer
path, text_path, mode, repeat, ours = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
tok = Tokenizer.from_file(path)
tok.no_padding(); tok.no_truncation()
text = open(text_path, encoding="utf-8").read()
if mode == "lines":
    lines = [l[:-1] if l.endswith("\r") else l for l in text.split("\n")]
    lines = [l for l in lines if l.strip()]
best = None
for _ in range(repeat):
    start = time.perf_counter()
    if mode == "lines":
        ids = [e.ids for e in tok.encode_batch(lines)]
    else:
        ids = [tok.encode(text).ids]
    t = time.perf_counter() - start
    best = t if best is None else min(best, t)
with open(ours) as f:
    theirs = [[int(i) for i in l.split(",")] if l.strip() else [] for l in f.read().splitlines()]
print(best, sum(map(len, ids)), int(theirs == ids))
"""


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def make_text(path, megabytes):
    texts = []
    for p in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(p) and not os.path.islink(p):
            texts.append(open(p, encoding="utf-8").read())
    unit = "\n".join(texts)
    target = int(megabytes * 1e6)
    with open(path, "w", encoding="utf-8") as f:
        f.write(unit * max(1, round(target / len(unit.encode("utf-8")))))
    return os.path.getsize(path)


def time_recast(cmd, out_path, repeat):
    best = None
    for _ in range(repeat):
        with open(out_path, "w") as out:
            start = time.perf_counter()
            p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
            t = time.perf_counter() - start
        if p.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr}")
        best = t if best is None else min(best, t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=10, help="size of the text to encode, in MB (default 10)")
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-work", "tokenize"),
                    help="folder for the text and the ids (default bench-work/tokenize)")
    ap.add_argument("--models", default="minilm,smollm2",
                    help="comma-separated tokenizers from tools/models.py: minilm, smollm2 (default both)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per side; the best is kept (default 3)")
    ap.add_argument("--no-build", action="store_true", help="use the existing .build/release/recast")
    a = ap.parse_args()

    if not a.no_build:
        sh(["swift", "build", "-c", "release", "--product", "recast"], cwd=ROOT)
    recast = os.path.join(ROOT, ".build", "release", "recast")
    os.makedirs(a.work, exist_ok=True)
    text = os.path.join(a.work, "text.txt")
    size = make_text(text, a.mb)
    env = dict(os.environ, RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")

    import models
    folders = {"minilm": models.minilm, "smollm2": models.smollm2}
    print(f"text: {text}, {size / 1e6:.1f} MB (the licence texts repeated); best of {a.repeat}; "
          f"tokenizers single-threaded; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"  {'tokenizer':<10} {'input':<9} {'tokens':>10} {'recast MB/s':>12} {'w/o start-up':>13} "
          f"{'tokenizers MB/s':>16} {'ratio':>7} {'ids equal':>10}")
    for name in a.models.split(","):
        folder = folders[name]()
        startup = time_recast([recast, "tokenize", folder, "--text", "word"], os.path.join(a.work, "startup.txt"), a.repeat)
        for mode, flag in [("document", "--text-file"), ("lines", "--lines")]:
            ours_out = os.path.join(a.work, f"{name}-{mode}.ids")
            ours = time_recast([recast, "tokenize", folder, flag, text], ours_out, a.repeat)
            peer = sh([sys.executable, "-c", PEER, os.path.join(folder, "tokenizer.json"), text, mode, str(a.repeat), ours_out],
                      env=env).stdout.split()
            theirs, tokens, equal = float(peer[0]), int(peer[1]), peer[2] == "1"
            mb = size / 1e6
            print(f"  {name:<10} {mode:<9} {tokens:>10} {mb / ours:>12.2f} {mb / max(ours - startup, 1e-9):>13.2f} "
                  f"{mb / theirs:>16.2f} {theirs / ours:>7.2f} {'yes' if equal else 'NO':>10}", flush=True)
    print(f"(ratio = recast MB/s / tokenizers MB/s, whole process; start-up = `recast tokenize --text word`; goal ≥ 0.5)")


if __name__ == "__main__":
    main()
