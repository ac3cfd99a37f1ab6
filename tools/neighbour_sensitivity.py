#!/usr/bin/env python3
"""How hard is nearest-neighbour agreement on a set of sentences? A yardstick for issue 13's MiniLM target.

    python3 tools/neighbour_sensitivity.py ORIGINAL SENTENCES [--converted FOLDER ...] [--trials 20]

Embeds SENTENCES (one per line) with the ORIGINAL sentence-transformers model (normalised embeddings) and
prints:
- the gap between each sentence's most similar and second most similar other sentence (quantiles): the margin
  a perturbation has to overturn;
- the nearest-neighbour agreement a random perturbation of a given cosine would leave: each embedding e is
  replaced by cos θ·e + sin θ·u, u a random unit vector orthogonal to e (isotropic, independent per sentence),
  averaged over --trials draws;
- for each --converted folder (loaded with trust_remote_code, as `recast swap` writes it), its mean cosine to
  the original and its agreement, so a converted model's error can be compared with isotropic error of the same
  size.

Nearest-neighbour agreement is the share of sentences whose most similar other sentence is the same under both
embeddings, as `recast verify --lines` reports it.
"""
import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402


def neighbours(e: np.ndarray) -> np.ndarray:
    s = e @ e.T
    np.fill_diagonal(s, -np.inf)
    return s.argmax(1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("original")
    p.add_argument("sentences", help="one sentence per line (blank lines skipped)")
    p.add_argument("--converted", action="append", default=[], help="a converted folder to compare (repeatable)")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--cosines", default="0.99,0.995,0.998,0.999")
    a = p.parse_args()
    with open(a.sentences, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    if len(lines) < 3:
        raise SystemExit(f"{a.sentences}: {len(lines)} sentences; at least 3 are needed")
    original = SentenceTransformer(a.original).encode(lines, normalize_embeddings=True)
    reference = neighbours(original)
    s = original @ original.T
    np.fill_diagonal(s, -np.inf)
    top = np.sort(s, 1)
    gap = top[:, -1] - top[:, -2]
    q = np.quantile(gap, [0.05, 0.1, 0.25, 0.5])
    print(f"{len(lines)} sentences; similarity gap between first and second neighbour: 5% {q[0]:.4f}, "
          f"10% {q[1]:.4f}, 25% {q[2]:.4f}, median {q[3]:.4f}")
    rng = np.random.default_rng(0)
    for cosine in (float(c) for c in a.cosines.split(",")):
        agreement = []
        for _ in range(a.trials):
            u = rng.standard_normal(original.shape)
            u -= (u * original).sum(1, keepdims=True) * original
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            theta = np.arccos(cosine)
            agreement.append((neighbours(np.cos(theta) * original + np.sin(theta) * u) == reference).mean())
        print(f"isotropic perturbation at cosine {cosine}: agreement {100 * np.mean(agreement):.1f}% "
              f"(min {100 * np.min(agreement):.1f}%)")
    for folder in a.converted:
        converted = SentenceTransformer(folder, trust_remote_code=True).encode(lines, normalize_embeddings=True)
        cos = (original * converted).sum(1)
        print(f"{folder}: cosine mean {cos.mean():.4f} (min {cos.min():.4f}), "
              f"agreement {100 * (neighbours(converted) == reference).mean():.1f}%")


if __name__ == "__main__":
    main()
