#!/usr/bin/env bash
# The whole test suite: set-up, a warnings-as-errors build, and every test (Swift Testing), including the
# cross-checks against Python's safetensors and h5py and the NumPy reference, which the tests run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
swift build --build-tests
swift test --skip-build
