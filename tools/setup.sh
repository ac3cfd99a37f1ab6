#!/usr/bin/env bash
# Installs what Recast needs on a fresh Debian machine that has Swift: the C libraries (HDF5, OpenBLAS)
# from Debian's archive, and the Python packages the cross-checks and benchmarks use from PyPI.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in libhdf5-dev libopenblas-dev libssl-dev zlib1g-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -c "import numpy, h5py, safetensors, jsonschema, tokenizers, gguf, torch, transformers, regex, peft, accelerate, sentence_transformers" >/dev/null 2>&1; then
  echo "setup: installing Python packages from tools/requirements.txt" >&2
  python3 -m pip install -q -r tools/requirements.txt
fi
