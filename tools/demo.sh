#!/usr/bin/env bash
# The main job on the embedded fixture (or on MODEL_DIR given as the first argument):
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
