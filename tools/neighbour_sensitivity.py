#!/usr/bin/env python3
"""How hard is nearest-neighbour agreement on a set of sentences? A yardstick for issue 13's MiniLM target.

    python3 tools/neighbour_sensitivity.py ORIGINAL SENTENCES [--converted FOLDER ...] [--trials 20] [--per-layer]
        [--window-share 16,32,64 [--sinks N]]

Embeds SENTENCES (one per line) with the ORIGINAL sentence-transformers model (a folder, or `minilm` for the
cached all-MiniLM-L6-v2 of tools/models.py; normalised embeddings) and prints:
- the gap between each sentence's most similar and second most similar other sentence (quantiles): the margin
  a perturbation has to overturn;
- the nearest-neighbour agreement a random perturbation of a given cosine would leave: each embedding e is
  replaced by cos θ·e + sin θ·u, u a random unit vector orthogonal to e (isotropic, independent per sentence),
  averaged over --trials draws;
- for each --converted folder (loaded with trust_remote_code, as `recast swap` writes it), its mean cosine to
  the original and its agreement, so a converted model's error can be compared with isotropic error of the same
  size;
- with --per-layer (BERT-family encoders), for each --converted folder and each layer l: the cosine and agreement
  with only layer l converted (every other layer the original's), and with every layer converted but l. That
  shows which layers' conversion costs agreement, and how much a single converted layer costs on its own;
- with --window-share W,…: for an encoder swapped with `--window W [--sinks N]`, the share of the query–key pairs
  of SENTENCES (tokenized by ORIGINAL) that fall inside the window (|i − n| ≤ ⌊W/2⌋, or key i among the first N),
  where the hybrid computes exact softmax terms, and the share of sentences that lie inside it entirely (exact
  softmax throughout). It says how much of a converted model's figures the linear part is responsible for.

Nearest-neighbour agreement is the share of sentences whose most similar other sentence is the same under both
embeddings, as `recast verify --lines` reports it.
"""
import argparse
import copy
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402


def neighbours(e: np.ndarray) -> np.ndarray:
    s = e @ e.T
    np.fill_diagonal(s, -np.inf)
    return s.argmax(1)


def layers_of(model: SentenceTransformer, name: str):
    """The transformer layers (a ModuleList) of a sentence-transformers model whose first module wraps a BERT-family
    encoder."""
    inner = getattr(model[0], "auto_model", None)
    layers = getattr(getattr(inner, "encoder", None), "layer", None)
    if layers is None:
        raise SystemExit(f"{name}: --per-layer needs a BERT-family encoder (encoder.layer); this model has none")
    return layers


def per_layer(original_model: SentenceTransformer, folder: str, converted_model: SentenceTransformer,
              lines: list[str], original: np.ndarray, reference: np.ndarray) -> None:
    """Cosine and agreement with one layer converted, and with all layers converted but one. The converted model
    hosts the mixture (its forward passes the padding its own layers need; an original layer ignores it), which
    is first checked to reproduce the original with every layer the original's."""
    theirs, ours = layers_of(original_model, "ORIGINAL"), layers_of(converted_model, folder)
    if len(theirs) != len(ours):
        raise SystemExit(f"{folder}: {len(ours)} layers, the original has {len(theirs)}")
    def mixture(converted_layers: set[int]) -> np.ndarray:
        mixed = copy.deepcopy(converted_model)
        mixed_layers = layers_of(mixed, folder)
        for j in range(len(ours)):
            if j not in converted_layers:
                mixed_layers[j] = copy.deepcopy(theirs[j])
        return mixed.encode(lines, normalize_embeddings=True)

    # The host with every layer the original's must be the original: else the mixtures below mean nothing.
    least = (original * mixture(set())).sum(1).min()
    if least < 0.99999:
        raise SystemExit(f"{folder}: with every layer the original's, the converted model's embeddings are not the "
                         f"original's (least cosine {least:.6f}): --per-layer cannot mix this model's layers")
    for l in range(len(ours)):
        for label, converted_layers in ((f"only layer {l} converted", {l}),
                                        (f"every layer but {l} converted", set(range(len(ours))) - {l})):
            e = mixture(converted_layers)
            print(f"  {label}: cosine mean {(original * e).sum(1).mean():.5f}, "
                  f"agreement {100 * (neighbours(e) == reference).mean():.1f}%")


def window_share(model: SentenceTransformer, lines: list[str], windows: list[int], sinks: int) -> None:
    """Prints, per window, the share of query–key pairs inside the bidirectional window (sinks included) and the
    share of sentences entirely inside it."""
    # The tokens the model reads (special tokens included, cut at its max_seq_length).
    prepare = getattr(model, "preprocess", None) or model.tokenize  # older sentence-transformers: tokenize only
    lengths = [int(n) for n in prepare(lines)["attention_mask"].sum(1).tolist()]
    print(f"tokens per sentence: median {int(np.median(lengths))}, at most {max(lengths)}")
    for w in windows:
        inside = total = whole = 0
        for n in lengths:
            i = np.arange(n)
            near = (np.abs(i[:, None] - i[None, :]) <= w // 2) | (i[None, :] < sinks)
            inside += int(near.sum())
            total += n * n
            whole += bool(near.all())
        print(f"window {w}, {sinks} sinks: {100 * inside / total:.1f}% of the query-key pairs inside the window, "
              f"{100 * whole / len(lengths):.1f}% of the sentences entirely")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("original")
    p.add_argument("sentences", help="one sentence per line (blank lines skipped)")
    p.add_argument("--converted", action="append", default=[], help="a converted folder to compare (repeatable)")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--cosines", default="0.99,0.995,0.998,0.999")
    p.add_argument("--per-layer", action="store_true",
                   help="also measure each converted layer alone, and every layer but one (BERT-family encoders)")
    p.add_argument("--window-share", default=None, metavar="W,...",
                   help="the share of query-key pairs inside each bidirectional window W (and the sentences entirely inside)")
    p.add_argument("--sinks", type=int, default=0, help="with --window-share: the swap's --sinks")
    a = p.parse_args()
    windows = []
    if a.window_share:
        try:
            windows = [int(w) for w in a.window_share.split(",")]
        except ValueError:
            p.error(f"--window-share {a.window_share}: comma-separated window sizes, e.g. 16,32,64")
        if any(w < 1 for w in windows) or a.sinks < 0:
            p.error("--window-share takes positive windows and --sinks a count of zero or more")
    if a.sinks and not windows:
        p.error("--sinks applies to --window-share only")
    if a.per_layer and not a.converted:
        p.error("--per-layer measures the --converted folders: name at least one")
    try:
        with open(a.sentences, encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        p.error(f"{a.sentences}: cannot read the sentences ({error})")
    if len(lines) < 3:
        raise SystemExit(f"{a.sentences}: {len(lines)} sentences; at least 3 are needed")
    if not os.path.isdir(a.original) and a.original == "minilm":
        import models  # tools/models.py, beside this script: the cached all-MiniLM-L6-v2

        a.original = models.minilm()
    original_model = SentenceTransformer(a.original)
    original = original_model.encode(lines, normalize_embeddings=True)
    reference = neighbours(original)
    if windows:
        window_share(original_model, lines, windows, a.sinks)
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
        converted_model = SentenceTransformer(folder, trust_remote_code=True)
        converted = converted_model.encode(lines, normalize_embeddings=True)
        if converted.shape != original.shape:
            raise SystemExit(f"{folder}: embeddings of {converted.shape[1]} dimensions, the original's have "
                             f"{original.shape[1]}: not a conversion of ORIGINAL")
        cos = (original * converted).sum(1)
        print(f"{folder}: cosine mean {cos.mean():.4f} (min {cos.min():.4f}), "
              f"agreement {100 * (neighbours(converted) == reference).mean():.1f}%")
        if a.per_layer:
            per_layer(original_model, folder, converted_model, lines, original, reference)


if __name__ == "__main__":
    main()
