#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of the decoders and state machines: builds the package in
# Fuzz/ with the fuzzer and address sanitizers, then runs each target for SECONDS (default 30)
# from its committed seeds (Fuzz/Corpus/TARGET) plus a working corpus in a temporary directory.
# Exits non-zero when a target crashes or breaks an invariant, printing the input as hex and
# the command that replays it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]        e.g. scripts/fuzz.sh 3600 FuzzLogin
#   FUZZ_CORPUS=DIR scripts/fuzz.sh 600          keep the working corpora in DIR/TARGET
#   FUZZ_JOBS=N scripts/fuzz.sh 600              N parallel jobs per target (libFuzzer -jobs/-workers)
set -euo pipefail
cd "$(dirname "$0")/../Fuzz"

SECONDS_PER_TARGET=${1:-30}
shift || true
ALL_TARGETS=(FuzzPDUFraming FuzzTextNegotiation FuzzLogin FuzzSession FuzzSCSI FuzzAdminRequest FuzzRecord)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

# The largest input each target gets: a few PDUs, a login's worth of requests, a few dozen CDBs.
declare -A MAX_LEN=(
  [FuzzPDUFraming]=16384 [FuzzTextNegotiation]=4096 [FuzzLogin]=20000
  [FuzzSession]=8192 [FuzzSCSI]=8192 [FuzzAdminRequest]=4096 [FuzzRecord]=4096
)

# Swift's -sanitize=address together with -sanitize=fuzzer drops the coverage instrumentation,
# so it is asked for explicitly. -enable-testing lets FuzzLogin and FuzzAdminRequest reach the
# internal LoginStateMachine and AdminWire with @testable import.
BUILD_FLAGS=(-c release --sanitize fuzzer --sanitize address
  -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table -Xswiftc -enable-testing)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== building the fuzz targets"
if ! swift build "${BUILD_FLAGS[@]}" >"$WORK/build.log" 2>&1; then
  grep -v '^\[' "$WORK/build.log" | tail -40
  echo "fuzzing failed: the fuzz targets do not build"
  exit 1
fi
grep -v '^\[' "$WORK/build.log" || true
BIN=$(swift build "${BUILD_FLAGS[@]}" --show-bin-path)
for target in "${TARGETS[@]}"; do
  [ -x "$BIN/$target" ] || { echo "no fuzz target $target" >&2; exit 1; }
done
CRASHES=$PWD/.build/crashes
mkdir -p "$CRASHES"
# Swift's own crash backtracer is slow and says less than libFuzzer's stack trace.
export SWIFT_BACKTRACE=enable=no
# Swift's runtime keeps metadata caches that LeakSanitizer would report at exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer || true)}

failed=()
for target in "${TARGETS[@]}"; do
  corpus=${FUZZ_CORPUS:+$FUZZ_CORPUS/$target}
  corpus=${corpus:-$WORK/corpus-$target}
  mkdir -p "$corpus" "$WORK/artifacts-$target"
  options=(-max_total_time="$SECONDS_PER_TARGET" -max_len="${MAX_LEN[$target]}" -timeout=10
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$WORK/artifacts-$target/")
  [ -f "Dictionaries/$target.dict" ] && options+=(-dict="Dictionaries/$target.dict")
  if [ -n "${FUZZ_JOBS:-}" ]; then options+=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
  echo "== $target: ${SECONDS_PER_TARGET}s, -max_len=${MAX_LEN[$target]}"
  log=$WORK/$target.log
  status=0
  "$BIN/$target" "${options[@]}" "$corpus" "Corpus/$target" >"$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" \
    | sed "s/^/   /" || true
  grep -h -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/   \1/' || true
  artifacts=("$WORK/artifacts-$target"/*)
  if [ "$status" -ne 0 ] || [ -e "${artifacts[0]}" ]; then
    failed+=("$target")
    echo "!! $target failed (exit $status):"
    grep -m 3 -E 'fuzz invariant failed|ERROR: (AddressSanitizer|libFuzzer)|Fatal error|Precondition failed|Assertion failed' \
      "$log" | cut -c1-2000 | sed 's/^/   /' || true
    grep -v -E '^#[0-9]+ ' "$log" | grep -E '^ +#[0-9]+ 0x' | head -25 | sed 's/^/   /' || true
    for artifact in "${artifacts[@]}"; do
      [ -e "$artifact" ] || continue
      kept=$CRASHES/$target-$(basename "$artifact")
      cp "$artifact" "$kept"
      echo "   input ($(stat -c %s "$kept") bytes, hex):"
      od -An -v -tx1 "$kept" | tr -d ' \n' | fold -w 96 | sed 's/^/     /'
      echo
      echo "   reproduce: (cd Fuzz && SWIFT_BACKTRACE=enable=no $BIN/$target $kept)"
    done
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}"
  exit 1
fi
echo "fuzzing passed: ${TARGETS[*]}, ${SECONDS_PER_TARGET}s each"
