#!/usr/bin/env python3
"""Sentence embeddings: Recast against PyTorch on the CPU, with all-MiniLM-L6-v2, in one run.

    python3 tools/bench_embed.py [--work bench-work] [--sentences 1000] [--batch-size 32]

Embeds the first N non-blank lines of /usr/share/common-licenses/* (real English) with:
  recast   one `recast run MINILM --lines F --outputs embeddings` process (release build): tokenizing,
           padded batches with attention masks, mean pooling and L2 normalisation from the model's
           sentence-transformers files;
  torch    what sentence-transformers does, written out: transformers' fast tokenizer and BertModel,
           batches of --batch-size sorted by length, mean pooling over the attention mask, L2 normalise;
           torch.set_num_threads = the threads Recast's OpenBLAS uses (OPENBLAS_NUM_THREADS, else one
           per core).
Both are timed as whole processes (start-up, loading, tokenizing included); torch's own loop is printed
too. Then checks that the embeddings agree (cosine per sentence). Installs tools/requirements-bench.txt
(torch pinned first) when torch or transformers is missing. OPENBLAS_CORETYPE, when set, is passed to
Recast (OpenBLAS picks its kernels by it) and printed with the figures.
"""
import argparse
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from benchlib import run  # noqa: E402
from tensorio import load_safetensors, to_float64  # noqa: E402

TORCH = r"""
import sys, time
start = time.perf_counter()
import numpy as np, torch
from transformers import AutoTokenizer, BertModel
model_dir, lines_path, out, threads, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
lines = [l.rstrip("\r\n") for l in open(lines_path, encoding="utf-8") if l.strip()]
tok = AutoTokenizer.from_pretrained(model_dir)
model = BertModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
loop = time.perf_counter()
order = sorted(range(len(lines)), key=lambda i: -len(lines[i]))
emb = np.zeros((len(lines), model.config.hidden_size), dtype=np.float32)
with torch.inference_mode():
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        enc = tok([lines[i] for i in idx], padding=True, truncation=True, max_length=512, return_tensors="pt")
        h = model(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
        e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        emb[idx] = torch.nn.functional.normalize(e, p=2, dim=1).numpy()
np.save(out, emb)
with open(out + ".txt", "w") as f:
    f.write(f"loop {time.perf_counter() - loop:.2f} s, {torch.get_num_threads()} threads, torch {torch.__version__}")
"""


def ensure_torch():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        print("installing torch==2.13.0 (CPU) and tools/requirements-bench.txt", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "torch==2.13.0"], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r",
                        os.path.join(ROOT, "tools", "requirements-bench.txt")], check=True)


def sentences(n):
    folder = "/usr/share/common-licenses"
    out = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                out += [line.strip() for line in f if line.strip()]
    if len(out) < n:
        raise SystemExit(f"{folder}: only {len(out)} non-blank lines, {n} asked")
    return out[:n]


def blas_threads():
    for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(name, "").isdigit() and int(os.environ[name]) > 0:
            return int(os.environ[name])
    return os.cpu_count() or 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(ROOT, "bench-work"))
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=32)
    a = ap.parse_args()
    ensure_torch()
    os.makedirs(a.work, exist_ok=True)
    minilm = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "models.py"), "minilm"],
                            check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    subprocess.run(["swift", "build", "-c", "release", "--product", "recast"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    recast = os.path.join(ROOT, ".build", "release", "recast")
    lines_path = os.path.join(a.work, "sentences.txt")
    with open(lines_path, "w", encoding="utf-8") as f:
        f.write("\n".join(sentences(a.sentences)) + "\n")
    threads = blas_threads()
    out_recast = os.path.join(a.work, "embed-recast.safetensors")
    out_torch = os.path.join(a.work, "embed-torch.npy")
    t_recast, rss_recast = run([recast, "run", minilm, "--lines", lines_path, "--outputs", "embeddings",
                                "--out", out_recast])
    torch_cmd = [sys.executable, "-c", TORCH, minilm, lines_path, out_torch, str(threads), str(a.batch_size)]
    t_torch, rss_torch = run(torch_cmd)
    with open(out_torch + ".txt") as f:
        loop = f.read()
    raw, _ = load_safetensors(out_recast)
    mine = to_float64(raw["embeddings"].code, raw["embeddings"].shape, raw["embeddings"].data)
    theirs = np.load(out_torch).astype(np.float64)
    if mine.shape != theirs.shape:
        raise SystemExit(f"shapes differ: recast {mine.shape}, torch {theirs.shape}")
    cos = (mine * theirs).sum(-1) / (np.linalg.norm(mine, axis=-1) * np.linalg.norm(theirs, axis=-1))
    print(f"{a.sentences} sentences, all-MiniLM-L6-v2, {threads} thread(s), "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"recast run --lines   {t_recast:8.2f} s   peak {rss_recast / 2**20:7.0f} MiB")
    print(f"torch (transformers) {t_torch:8.2f} s   peak {rss_torch / 2**20:7.0f} MiB   ({loop})")
    print(f"ratio torch / recast {t_torch / t_recast:8.2f}x")
    print(f"cosine recast vs torch: min {cos.min():.7f}, mean {cos.mean():.7f}")
    if cos.min() < 0.9999:
        raise SystemExit("the embeddings disagree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
