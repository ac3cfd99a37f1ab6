#!/usr/bin/env bash
# Installs what Recast needs on a fresh Debian machine that has Swift: the C libraries (HDF5, OpenBLAS)
# from Debian's archive, and the Python packages the cross-checks and benchmarks use from PyPI.
# Safe to run again: it installs only what is missing, or (Python packages) not at its pinned version.
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

# Every package at its pinned version (another torch, say a CUDA build, or transformers 4 would pass an import
# check and fail later): anything missing or at another version sends the whole file to pip, which installs the pins.
if ! python3 - tools/requirements.txt <<'PY' >&2
import re, sys
from importlib.metadata import PackageNotFoundError, version
wrong = []
for line in open(sys.argv[1]):
    m = re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s#]+)", line)
    if not m:
        continue
    try:
        have = version(m.group(1))
    except PackageNotFoundError:
        have = None
    # torch's CPU build reports 2.13.0+cpu: a local version label of the pinned release is that release.
    if have is None or have.split("+")[0] != m.group(2):
        wrong.append(f"{m.group(1)} {have or 'missing'} (pinned {m.group(2)})")
if wrong:
    print("setup: " + "; ".join(wrong))
    sys.exit(1)
PY
then
  echo "setup: installing Python packages from tools/requirements.txt" >&2
  python3 -m pip install -q -r tools/requirements.txt
fi
