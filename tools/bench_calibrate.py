#!/usr/bin/env python3
"""Attention transfer on the real models: `recast calibrate`'s time, peak memory and verify figures.

    python3 tools/bench_calibrate.py minilm  [--tokens 2000,8000] [--steps N] [--window W] [--recast PATH]
    python3 tools/bench_calibrate.py smollm2 [--tokens 4096,16384] [--window 64 [--sinks 4]] [--layers all]

For each model: swap it (hedgehog, every layer, with --window W and --sinks N if given), verify the swap against the original
on held-out text, then for each calibration size calibrate the swap and verify again. Prints calibration time,
peak memory (the process's maximum resident set) and the memory bound calibrate works out, against the number
of calibration tokens; and the verify figures before and after: sentence-embedding cosine to the original and
nearest-neighbour agreement for all-MiniLM-L6-v2, perplexity and top-1 agreement for SmolLM2-135M-Instruct; and
the per-layer attention error before and after (calibrate's own validation figures).

Texts (offline on any Debian machine with Python):
- calibration: the licence texts in /usr/share/common-licenses (GPL-3, GPL-2, LGPL-2.1, Apache-2.0, Artistic,
  MPL-2.0, ...; concatenated, in name order), as sentences for MiniLM (one per line) and as one document for SmolLM2;
- evaluation: Python's own documentation text, pydoc_data.topics (a different text), likewise: its first
  --eval-tokens x 5 characters (SmolLM2) or first --eval-sentences sentences (MiniLM).
With --calibration-text documentation, calibration uses the rest of pydoc_data.topics instead (never the evaluation
part: a held-out split of the same corpus, as a validation set is; paragraphs or sentences that share a run of 64
characters with the evaluation text are dropped, since the topics repeat passages); with `both`, the licences and that rest
alternate, in blocks of about 4,000 characters (whole paragraphs) for SmolLM2 and a sentence of each in turn for
MiniLM (as many pairs as the licences have sentences), so any --tokens prefix holds both.

With --distil STEPS, each calibrated model then goes through LoLCATs' second stage, a short finetune by
distillation from the original (tools/finetune.py --teacher: KL to the original's next-token distribution for
SmolLM2, the hidden states and pooled embeddings for MiniLM), training LoRA adapters on q, k, v, o (default) or,
with --distil-train feature-maps, the feature maps and window factors alone; on the same calibration text, and
verified again. --out-of-domain (with --calibration-text documentation) also verifies every SmolLM2 model on
/usr/share/common-licenses/GPL-3, a text unlike both the calibration and the evaluation text.

Models come from tools/models.py (pip wheels, cached). Use a release build (`swift build -c release`) for figures.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def model_path(name):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "models.py"), name], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def sentences(text, min_words=6, max_words=60):
    """Sentences of running text: wrapped lines joined, split after . ! ? and blank lines."""
    text = re.sub(r"[ \t]*\n[ \t]*(?=\S)", " ", text)
    out = []
    for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", text):
        s = " ".join(s.split())
        if min_words <= len(s.split()) <= max_words and re.search(r"[a-z]", s):
            out.append(s)
    return out


def licence_text():
    folder = "/usr/share/common-licenses"
    parts = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                parts.append(f.read())
    return "\n\n".join(parts)


def documentation_text():
    import pydoc_data.topics
    return "\n\n".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics))


def paragraphs_blocks(text, size=4000):
    """The text cut into blocks of about `size` characters, each ending at a paragraph break."""
    blocks, current = [], ""
    for para in text.split("\n\n"):
        current = current + "\n\n" + para if current else para
        if len(current) >= size:
            blocks.append(current)
            current = ""
    return blocks + ([current] if current else [])


def interleave(a, b):
    """Blocks of a and b alternately, then what remains of the longer."""
    out = []
    for i in range(max(len(a), len(b))):
        out += ([a[i]] if i < len(a) else []) + ([b[i]] if i < len(b) else [])
    return "\n\n".join(out)


def without_overlap(pieces, held_out, width=64):
    """The pieces (paragraphs or sentences) that share no run of `width` characters with the held-out text:
    pydoc_data.topics repeats passages across topics, so a split by position alone would leak evaluation
    text into calibration."""
    seen = {held_out[i:i + width] for i in range(len(held_out) - width + 1)}
    return [p for p in pieces if not any(p[i:i + width] in seen for i in range(0, max(len(p) - width + 1, 1)))]


def recast(binary, args, what):
    start = time.monotonic()
    r = subprocess.run([binary] + args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{what} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout, time.monotonic() - start


def verify_figures(binary, original, converted, eval_args):
    out, _ = recast(binary, ["verify", original, converted, "--json"] + eval_args, "verify")
    report = json.loads(out)
    figures = {"layers": {l["layer"]: l["attention_relative_error"] for l in report["layers"] if l["linear"]}}
    if report.get("embeddings"):
        e = report["embeddings"]
        figures.update(cosine_mean=e["cosine_mean"], cosine_min=e["cosine_min"], neighbour_agreement=e["neighbour_agreement"])
    if report.get("text"):
        t = report["text"]
        figures.update(perplexity_original=t["perplexity"]["original"], perplexity_converted=t["perplexity"]["converted"],
                       top1_agreement=t["top1_agreement"])
    return figures


def describe(f):
    parts = []
    if "cosine_mean" in f:
        parts.append(f"embedding cosine mean {f['cosine_mean']:.4f} (min {f['cosine_min']:.4f}), "
                     f"nearest-neighbour agreement {100 * f['neighbour_agreement']:.1f}%")
    if "perplexity_converted" in f:
        parts.append(f"perplexity {f['perplexity_converted']:.2f} (original {f['perplexity_original']:.2f}), "
                     f"top-1 agreement {100 * f['top1_agreement']:.1f}%")
    errors = list(f["layers"].values())
    parts.append(f"verify's attention error per layer: mean {sum(errors) / len(errors):.4f}, max {max(errors):.4f}")
    return "; ".join(parts)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=["minilm", "smollm2"])
    p.add_argument("--tokens", default=None, help="comma-separated calibration token counts")
    p.add_argument("--map", default="hedgehog")
    p.add_argument("--window", type=int, default=None)
    p.add_argument("--sinks", type=int, default=None, help="swap's --sinks (attention sinks; needs --window)")
    p.add_argument("--feature-dim", type=int, default=None, help="swap's --feature-dim (default: the map's)")
    p.add_argument("--steps", type=int, default=None, help="steps per layer (default: one epoch)")
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--eval-sentences", type=int, default=400, help="MiniLM: held-out sentences")
    p.add_argument("--eval-tokens", type=int, default=2048, help="SmolLM2: held-out tokens (windows of 512)")
    p.add_argument("--calibration-text", choices=["licences", "documentation", "both"], default="licences",
                   help="licences (default), the part of pydoc_data.topics not used for evaluation, or both alternating")
    p.add_argument("--distil", type=int, default=None, metavar="STEPS",
                   help="then finetune each calibrated model by distillation from the original for STEPS steps")
    p.add_argument("--distil-train", choices=["lora", "feature-maps"], default="lora",
                   help="what the distillation trains: LoRA rank 8 on q, k, v, o (default) or the feature maps alone")
    p.add_argument("--distil-lr", type=float, default=None, help="the distillation's rate (default: finetune.py's, 1e-3)")
    p.add_argument("--out-of-domain", action="store_true",
                   help="SmolLM2 with --calibration-text documentation: also verify on /usr/share/common-licenses/GPL-3")
    p.add_argument("--recast", default=None, help="the recast binary (default: .build/release/recast, else debug)")
    p.add_argument("--json", action="store_true", help="also print every figure as JSON")
    a = p.parse_args()

    binary = a.recast or next((b for b in (os.path.join(ROOT, ".build", c, "recast") for c in ("release", "debug"))
                               if os.path.exists(b)), None)
    if not binary:
        sys.exit("no recast binary: run `swift build -c release` first")
    encoder = a.model == "minilm"
    if a.out_of_domain and (encoder or a.calibration_text != "documentation"):
        p.error("--out-of-domain is for smollm2 with --calibration-text documentation (GPL-3 is unseen only then)")
    original = model_path("minilm" if encoder else "smollm2-gguf")
    teacher = model_path("minilm" if encoder else "smollm2") if a.distil else None  # a folder transformers loads
    counts = [int(x) for x in (a.tokens or ("2000,8000,32000" if encoder else "4096,16384")).split(",")]

    work = tempfile.mkdtemp(prefix="recast-bench-calibrate-")
    calibration, evaluation = licence_text(), documentation_text()
    if encoder:
        cal_file, eval_file = os.path.join(work, "calibration.txt"), os.path.join(work, "evaluation.txt")
        documentation = sentences(evaluation)
        held_out = documentation[: a.eval_sentences]
        held = set(held_out)
        rest = without_overlap([x for x in documentation[a.eval_sentences:] if x not in held], "\n".join(held_out))
        chosen = {"licences": sentences(calibration), "documentation": rest,
                  "both": [s for pair in zip(sentences(calibration), rest) for s in pair]}[a.calibration_text]
        with open(cal_file, "w") as f:
            f.write("\n".join(chosen) + "\n")
        with open(eval_file, "w") as f:
            f.write("\n".join(held_out) + "\n")
        data_args, eval_args = ["--lines", cal_file], ["--lines", eval_file]
    else:
        cal_file, eval_file = os.path.join(work, "calibration.txt"), os.path.join(work, "evaluation.txt")
        # About 4 characters per token: enough text for the evaluation windows.
        cut = a.eval_tokens * 5
        held_out = evaluation[:cut]
        rest = evaluation[cut:]
        rest = rest[rest.find("\n\n") + 2:] if "\n\n" in rest else ""  # from the next paragraph on
        rest = "\n\n".join(without_overlap(rest.split("\n\n"), held_out))
        chosen = {"licences": calibration, "documentation": rest,
                  "both": interleave(paragraphs_blocks(calibration), paragraphs_blocks(rest))}[a.calibration_text]
        with open(cal_file, "w") as f:
            f.write(chosen)
        with open(eval_file, "w") as f:
            f.write(held_out)
        data_args, eval_args = ["--text-file", cal_file], ["--text-file", eval_file, "--max-length", "512"]

    swapped = os.path.join(work, "swapped")
    swap_args = ["swap", original, swapped, "--feature-map", a.map] + (["--window", str(a.window)] if a.window else [])
    swap_args += ["--feature-dim", str(a.feature_dim)] if a.feature_dim else []
    swap_args += ["--sinks", str(a.sinks)] if a.sinks else []
    recast(binary, swap_args, "swap")
    print(f"model: {a.model} ({original}); swap: {a.map}, every layer" + (f", window {a.window}" if a.window else "")
          + (f", {a.sinks} sinks" if a.sinks else "") + (f", feature dim {a.feature_dim}" if a.feature_dim else ""))
    source = {"licences": "/usr/share/common-licenses/*", "documentation": "pydoc_data.topics after the evaluation part",
              "both": "/usr/share/common-licenses/* and pydoc_data.topics after the evaluation part, alternating"}
    print(f"calibration text: {source[a.calibration_text]} ({'sentences' if encoder else 'one document'}); "
          f"evaluation text: pydoc_data.topics ({'%d sentences' % a.eval_sentences if encoder else '%d tokens' % a.eval_tokens})")
    other_args = ["--text-file", "/usr/share/common-licenses/GPL-3", "--max-length", "512"] if a.out_of_domain else None

    def figures(model):
        f = verify_figures(binary, original, model, eval_args)
        if other_args:
            f["out_of_domain"] = verify_figures(binary, original, model, other_args)
        return f

    def describe_all(f):
        text = describe(f)
        if "out_of_domain" in f:
            text += f"\n    on GPL-3 (out of domain): {describe(f['out_of_domain'])}"
        return text

    before = figures(swapped)
    print(f"swapped, not calibrated: {describe_all(before)}")
    results = {"model": a.model, "map": a.map, "window": a.window, "sinks": a.sinks, "calibration_text": a.calibration_text, "before": before, "runs": []}
    for n in counts:
        out = os.path.join(work, f"calibrated-{n}")
        args = ["calibrate", swapped, out, "--tokens", str(n), "--json"] + data_args
        for flag, value in (("--steps", a.steps), ("--epochs", a.epochs), ("--batch", a.batch), ("--lr", a.lr),
                            ("--max-length", a.max_length)):
            if value is not None:
                args += [flag, str(value)]
        text, seconds = recast(binary, args, "calibrate")
        report = json.loads(text)
        after = figures(out)
        layers = report["layers"]
        ratios = [l["error_before"] / l["error_after"] for l in layers if l["error_after"] > 0]
        run = {"tokens": report["calibration"]["data"]["tokens"], "steps": report["calibration"]["steps"],
               "seconds": seconds, "peak_memory_bytes": report["peak_memory_bytes"],
               "memory_bound_bytes": report["memory_bound_bytes"], "after": after,
               "attention_error": [{"layer": l["layer"], "before": l["error_before"], "after": l["error_after"]} for l in layers]}
        results["runs"].append(run)
        print(f"calibrated on {run['tokens']} tokens ({run['steps']} steps per layer): {seconds:.1f} s, peak memory "
              f"{run['peak_memory_bytes'] / 2**20:.0f} MiB (bound {run['memory_bound_bytes'] / 2**20:.0f} MiB); "
              f"validation attention error down {min(ratios):.1f}x to {max(ratios):.1f}x per layer")
        print(f"  {describe_all(after)}")
        if run["peak_memory_bytes"] > run["memory_bound_bytes"]:
            print(f"  WARNING: the peak memory is above calibrate's bound, which should be an upper bound")
        if a.distil:
            distilled = out + "-distilled"
            command = [sys.executable, os.path.join(ROOT, "tools", "finetune.py"), out, cal_file, distilled,
                       "--teacher", teacher, "--steps", str(a.distil), "--seed", "0"]
            command += ["--seq-len", "128", "--batch", "16"] if encoder else ["--seq-len", "512", "--batch", "1"]
            command += ["--feature-maps"] if a.distil_train == "feature-maps" else []
            command += ["--lr", str(a.distil_lr)] if a.distil_lr is not None else []
            start = time.monotonic()
            r = subprocess.run(command, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"finetune.py failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
            seconds = time.monotonic() - start
            run["distilled"] = {"steps": a.distil, "train": a.distil_train, "seconds": seconds, "after": figures(distilled)}
            print(f"  distilled ({a.distil_train}, {a.distil} steps, {seconds:.0f} s): {describe_all(run['distilled']['after'])}")
        load = os.getloadavg()
        print(f"  load average after the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (1, 5, 15 min)")
    print(f"kept in {work}: the swap, each calibrated model, calibration.txt and evaluation.txt (remove it when done)")
    if a.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
