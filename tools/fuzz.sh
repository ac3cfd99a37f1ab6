#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer targets of Fuzz/ with AddressSanitizer, seeds each from fixtures/ (plus the
# small seeds in Fuzz/corpus-seeds/), runs each for a time or a number of executions, replays what it found
# to group the findings by cause, and prints a table.
#
#   bash tools/fuzz.sh [options] [TARGET...]
#
#   TARGET             safetensors-header, sharded-index, hdf5, config-graph, gguf, pickle, torch-zip
#                      (default: all seven)
#   --time SECONDS     per target (default 60)
#   --runs N           per target; with --time, whichever comes first
#   --jobs K           targets run at once (default 1; each is one process on one core)
#   --work DIR         corpora, logs and findings (default ${TMPDIR:-/tmp}/recast-fuzz); a corpus left
#                      there by an earlier run is fuzzed further
#   --stop             stop a target at its first finding (default: libFuzzer's fork mode, which records
#                      the finding and goes on)
#   --no-build         use the targets already built in .build-fuzz (or $RECAST_FUZZ_BUILD, the build
#                      folder to use instead, e.g. to build while an earlier campaign runs)
#   --triage DIR       only replay and group the findings of an earlier run (WORK/findings/<run>)
#
# Reproduce a finding:  SWIFT_BACKTRACE=enable=no .build-fuzz/release/fuzz-TARGET FILE
# Findings go to WORK/findings/<run>/<target>/{crash,timeout,oom,leak}-*; the triage (one line per distinct
# cause: count, kind, innermost frame, first Recast frame, an example) to .../<target>/triage.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ALL_TARGETS=(safetensors-header sharded-index hdf5 config-graph gguf pickle torch-zip)
TIME=60
TIME_SET=0
RUNS=""
JOBS=1
WORK="${TMPDIR:-/tmp}/recast-fuzz"
BUILD=1
FORK=1
TARGETS=()
TRIAGE_ONLY=""

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --time) TIME="$2"; TIME_SET=1; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --jobs) JOBS="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        --stop) FORK=0; shift ;;
        --no-build) BUILD=0; shift ;;
        --triage) TRIAGE_ONLY="$2"; BUILD=0; shift 2 ;;
        -h|--help) usage 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; usage 2 ;;
        *)
            case " ${ALL_TARGETS[*]} " in
                *" $1 "*) TARGETS+=("$1") ;;
                *) echo "fuzz.sh: unknown target '$1' (${ALL_TARGETS[*]})" >&2; exit 2 ;;
            esac
            shift ;;
    esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
# --runs alone means no time limit.
if [ -n "$RUNS" ] && [ "$TIME_SET" = 0 ]; then TIME=0; fi

BUILD_DIR="${RECAST_FUZZ_BUILD:-.build-fuzz}"
BIN="$ROOT/$BUILD_DIR/release"
if [ "$BUILD" = 1 ]; then
    echo "building the fuzz targets (release, -sanitize=fuzzer,address) into $BUILD_DIR ..."
    nice -n 10 swift build -c release --package-path Fuzz --scratch-path "$BUILD_DIR" \
        -Xswiftc -sanitize=fuzzer,address 2>&1 | grep -v "Cannot export local symbol '__asan_extra_spill_area'" || true
    for t in "${TARGETS[@]}"; do
        [ -x "$BIN/fuzz-$t" ] || { echo "fuzz.sh: the build did not produce fuzz-$t" >&2; exit 1; }
    done
fi

RUN_ID=$(date +%Y%m%d-%H%M%S)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

# The Swift runtime's backtracer would catch a crash before libFuzzer and AddressSanitizer do (and can
# outlive the process holding its output): leave crashes to them.
export SWIFT_BACKTRACE=enable=no
export RECAST_FIXTURES="$ROOT/fixtures"
export ASAN_OPTIONS="${ASAN_OPTIONS:-handle_abort=1:handle_sigill=1:detect_stack_use_after_return=0}"

# Seed corpora are built from fixtures/ at every run (files are small; cp -n keeps what a corpus has).
seed() {
    local target=$1 dir=$2 f d
    mkdir -p "$dir"
    case "$target" in
        safetensors-header)
            for f in fixtures/*.safetensors; do cp -n "$f" "$dir/"; done
            for f in fixtures/*/*.safetensors; do
                d=$(basename "$(dirname "$f")"); cp -n "$f" "$dir/$d-$(basename "$f")"
            done ;;
        sharded-index)
            for f in fixtures/*/*.index.json; do d=$(basename "$(dirname "$f")"); cp -n "$f" "$dir/$d.index.json"; done ;;
        hdf5)
            for f in fixtures/*.h5 fixtures/*/*.h5; do
                [ -e "$f" ] || continue
                d=$(basename "$(dirname "$f")"); [ "$d" = fixtures ] && d=fx; cp -n "$f" "$dir/$d-$(basename "$f")"
            done ;;
        config-graph)
            for f in fixtures/*/config.json; do d=$(basename "$(dirname "$f")"); cp -n "$f" "$dir/$d.json"; done ;;
        gguf)
            # The GGUF test fixtures (every metadata type, every tensor type), written by gguf-py.
            python3 tools/gguf_fixtures.py write "$dir" > /dev/null 2>&1 \
                || echo "fuzz.sh: gguf-py (pip package gguf) is missing: gguf starts from Fuzz/corpus-seeds/gguf only" >&2 ;;
        pickle|torch-zip)
            # Checkpoints written by torch.save (every dtype, tied, strided, nested, legacy) and the hostile
            # ones of the tests; for the pickle machine, their pickles (data.pkl, the legacy main pickle).
            torch_seeds ;;
    esac
    if [ -d "Fuzz/corpus-seeds/$target" ]; then
        for f in "Fuzz/corpus-seeds/$target"/*; do [ -e "$f" ] && cp -n "$f" "$dir/"; done
    fi
    return 0
}

# tools/torch_fixtures.py (needs torch) and tools/hostile_pickles.py, written once per run into WORK/torch-seeds,
# then copied flat into the corpus of pickle or torch-zip.
torch_seeds() {
    local seeds="$WORK/torch-seeds" f
    if [ ! -d "$seeds" ]; then
        mkdir -p "$seeds/fixtures" "$seeds/hostile"
        python3 tools/torch_fixtures.py "$seeds/fixtures" > /dev/null 2>&1 \
            || echo "fuzz.sh: tools/torch_fixtures.py failed (torch==2.13.0 missing?): seeds from hostile_pickles.py only" >&2
        python3 tools/hostile_pickles.py "$seeds/hostile" > /dev/null 2>&1 \
            || echo "fuzz.sh: tools/hostile_pickles.py failed" >&2
        python3 - "$seeds" <<'PY' || true
import os, sys, zipfile
seeds = sys.argv[1]
os.makedirs(os.path.join(seeds, "pickles"), exist_ok=True)
for root, _, files in os.walk(seeds):
    for f in files:
        path = os.path.join(root, f)
        if f.endswith((".pt", ".pth", ".bin")) and zipfile.is_zipfile(path):
            try:
                z = zipfile.ZipFile(path)
                for name in z.namelist():
                    if name.endswith("data.pkl"):
                        open(os.path.join(seeds, "pickles", f + ".data.pkl"), "wb").write(z.read(name))
            except Exception:
                pass
PY
    fi
    case "$target" in
        pickle)
            for f in "$seeds"/hostile/*.pkl "$seeds"/pickles/*.pkl; do [ -e "$f" ] && cp -n "$f" "$dir/"; done ;;
        torch-zip)
            for f in "$seeds"/fixtures/*.pt "$seeds"/fixtures/*.pth "$seeds"/hostile/*.pt "$seeds"/hostile/*.pth; do
                [ -e "$f" ] && cp -n "$f" "$dir/"
            done
            for f in "$seeds"/fixtures/*/*.bin; do
                [ -e "$f" ] && cp -n "$f" "$dir/$(basename "$(dirname "$f")")-$(basename "$f")"
            done ;;
    esac
    return 0
}

# One line per distinct cause: replays every artifact (replay logs in replays/) and keys it by the kind of
# failure, the innermost frame outside the sanitizer and Swift runtimes, and the first frame in Recast's
# own sources (Sources/, else the harness in Fuzz/Sources/).
triage() {
    local target=$1 dir=$2 f log kind top ours
    mkdir -p "$dir/replays"
    : > "$dir/replays/keys"
    for f in "$dir"/crash-* "$dir"/timeout-* "$dir"/oom-* "$dir"/leak-* "$dir"/slow-unit-*; do
        [ -f "$f" ] || continue
        log="$dir/replays/$(basename "$f").log"
        [ -e "$log" ] || TMPDIR="$WORK/tmp/$target" timeout 120 "$BIN/fuzz-$target" -timeout=10 -rss_limit_mb=2048 "$f" > "$log" 2>&1 || true
        kind=$(grep -m1 -oE "Fatal error: .{0,100}" "$log" || true)
        [ -n "$kind" ] || kind=$(grep -m1 -oE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): (deadly signal|detected memory leaks|out of memory|requested allocation size exceeds|[A-Za-z-]+)" "$log" | sed 's/^ERROR: //' || true)
        [ -n "$kind" ] || kind="no failure on replay"
        kind=$(printf '%s' "$kind" | sed -E "s/'[^']*'/'…'/g; s/[0-9]+/N/g")
        top=$(grep -E "^ +#[0-9]+ 0x[0-9a-f]+ in " "$log" \
              | grep -vE 'compiler-rt|llvm-project|libclang_rt|sanitizer|fuzzer::|__asan|__lsan|libswiftCore|libc\.so|libc_start|/<compiler-generated>| in (swift_|_swift|\$ss)' \
              | head -1 | sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ in //; s/ \(BuildId.*//; s/\(\/[^)]*\/(lib[^/+)]*)\+0x[0-9a-f]+\)/(\1)/; s|/[^ ]*/(Sources/)|\1|' || true)
        top=$(printf '%s' "$top" | swift-demangle --simplified 2>/dev/null | cut -c1-160 || printf '%s' "$top")
        ours=$(grep -oE "/Sources/[A-Za-z0-9_/.+-]+\.swift:[0-9]+" "$log" | grep -v "/Fuzz/Sources/" | head -1 | sed 's|^/||' || true)
        [ -n "$ours" ] || ours=$(grep -oE "Fuzz/Sources/[A-Za-z0-9_/.+-]+\.swift:[0-9]+" "$log" | head -1 || true)
        printf '%s\t%s\t%s\t%s\n' "$kind" "${top:--}" "${ours:--}" "$(basename "$f")" >> "$dir/replays/keys"
    done
    sort "$dir/replays/keys" | awk -F'\t' '{ k = $1 "\t" $2 "\t" $3; n[k]++; if (!(k in ex)) ex[k] = $4 }
        END { for (k in n) printf "%d\t%s\t%s\n", n[k], k, ex[k] }' | sort -rn > "$dir/triage.txt"
}

run_target() {
    local target=$1
    local corpus="$WORK/corpus/$target" findings="$WORK/findings/$RUN_ID/$target" log="$WORK/logs/$RUN_ID-$target.log"
    mkdir -p "$findings" "$WORK/logs" "$WORK/tmp/$target"
    seed "$target" "$corpus"
    local args=("$corpus" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$findings/" -print_final_stats=1)
    [ -f "Fuzz/dicts/$target.dict" ] && args+=(-dict="Fuzz/dicts/$target.dict")
    [ "$TIME" != 0 ] && args+=(-max_total_time="$TIME")
    [ -n "$RUNS" ] && args+=(-runs="$RUNS")
    [ "$FORK" = 1 ] && args+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    local start end
    start=$(date +%s.%N)
    TMPDIR="$WORK/tmp/$target" nice -n 10 "$BIN/fuzz-$target" "${args[@]}" > "$log" 2>&1 || true
    end=$(date +%s.%N)
    # Executions: the last progress line of fork mode (#N: cov: …), else libFuzzer's final statistics.
    local execs
    execs=$(grep -oE "^#[0-9]+: cov:" "$log" | tail -1 | tr -dc '0-9' || true)
    [ -n "$execs" ] || execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | tail -1 | grep -oE "[0-9]+$" || true)
    [ -n "$execs" ] || execs=0
    triage "$target" "$findings"
    local count unique
    count=$(find "$findings" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' -o -name 'slow-unit-*' \) | wc -l)
    unique=$(wc -l < "$findings/triage.txt")
    local kinds=""
    for k in crash timeout oom leak; do
        local c
        c=$(find "$findings" -maxdepth 1 -type f -name "$k-*" | wc -l)
        [ "$c" -gt 0 ] && kinds="$kinds $k:$c"
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$execs" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')" \
        "$count" "$unique" "${kinds# }" > "$WORK/logs/$RUN_ID-$target.result"
    echo "finished $target: $execs executions, $count findings ($unique distinct) — log $log"
}

show_findings() {
    local f="$2/triage.txt"
    [ -s "$f" ] || return 0
    echo
    echo "$1: distinct findings (count, kind, innermost frame, first Recast frame, example) — $2"
    awk -F'\t' '{ printf "  %4d  %s\n        at %s\n        in %s\n        e.g. %s\n", $1, $2, $3, $4, $5 }' "$f"
}

if [ -n "$TRIAGE_ONLY" ]; then
    for t in "${TARGETS[@]}"; do
        [ -d "$TRIAGE_ONLY/$t" ] || continue
        triage "$t" "$TRIAGE_ONLY/$t"
        show_findings "$t" "$TRIAGE_ONLY/$t"
    done
    exit 0
fi

echo "run $RUN_ID: ${TARGETS[*]}; $( [ "$TIME" != 0 ] && echo "${TIME}s" )$( [ "$TIME" != 0 ] && [ -n "$RUNS" ] && echo " or " )$( [ -n "$RUNS" ] && echo "$RUNS executions" ) per target, $JOBS at a time; work folder $WORK"
running=0
for t in "${TARGETS[@]}"; do
    if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
    run_target "$t" &
    running=$((running + 1))
done
wait

echo
printf '%-20s %14s %9s %9s %9s %9s  %s\n' target executions seconds exec/s findings distinct kinds
status=0
for t in "${TARGETS[@]}"; do
    if ! IFS=$'\t' read -r name execs secs count unique kinds < "$WORK/logs/$RUN_ID-$t.result"; then
        printf '%-20s  did not finish: see %s\n' "$t" "$WORK/logs/$RUN_ID-$t.log"; status=2; continue
    fi
    rate=$(awk -v n="$execs" -v s="$secs" 'BEGIN { printf "%d", (s > 0) ? n / s : 0 }')
    printf '%-20s %14s %9.0f %9s %9s %9s  %s\n' "$name" "$execs" "$secs" "$rate" "$count" "$unique" "$kinds"
    [ "$count" -gt 0 ] && status=1
done
for t in "${TARGETS[@]}"; do show_findings "$t" "$WORK/findings/$RUN_ID/$t"; done
exit $status
