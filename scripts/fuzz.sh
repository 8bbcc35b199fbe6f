#!/usr/bin/env bash
# Builds pathq's libFuzzer harnesses with clang (-fsanitize=fuzzer,address,undefined) and runs each
# for a fixed time, starting from the seed corpora in fuzz/corpus/<reader>/.
#
#   scripts/fuzz.sh [SECONDS] [READER...]      default: 15 seconds each, every harness built
#
# Readers: npy npz safetensors idx network_json layer_args. CI runs the short form; a long run
# of one reader, with 4 workers sharing its corpus:
#
#   PATHQ_FUZZ_WORKERS=4 scripts/fuzz.sh 3600 npz
#
# Environment: PATHQ_FUZZ_BUILD (build directory, default build-fuzz), PATHQ_BUILD_JOBS (compile
# jobs, default 2), PATHQ_FUZZ_PARALLEL (harnesses run at the same time, default 2),
# PATHQ_FUZZ_WORKERS (libFuzzer workers per harness, default 1).
# New inputs go to <build>/corpus/<reader>/ (the seeds in the repository are left alone). A crash
# is saved in <build>/artifacts/<reader>/; the script then exits 1, naming the file and the command
# that replays it. Every crash found becomes a seed (fuzz/corpus/<reader>/regression_*) and a test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
shift || true
build=${PATHQ_FUZZ_BUILD:-build-fuzz}
jobs=${PATHQ_BUILD_JOBS:-2}
parallel=${PATHQ_FUZZ_PARALLEL:-2}
workers=${PATHQ_FUZZ_WORKERS:-1}

if ! command -v clang++ > /dev/null; then
  echo "scripts/fuzz.sh: clang++ is needed (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DPATHQ_BUILD_FUZZ=ON \
  -DPATHQ_BUILD_TESTS=OFF -DPATHQ_BUILD_BENCH=OFF -DPATHQ_BUILD_EXAMPLES=OFF -DPATHQ_BUILD_TOOLS=OFF \
  -DPATHQ_USE_OPENMP=OFF -DPATHQ_BUILD_PYTHON=OFF -DPATHQ_USE_MPI=OFF > "$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }

readers=("$@")
if [ ${#readers[@]} -eq 0 ]; then
  for r in npy npz safetensors idx network_json layer_args; do
    if [ -f "fuzz/fuzz_$r.cpp" ]; then readers+=("$r"); fi
  done
fi
targets=()
for r in "${readers[@]}"; do targets+=("pathq_fuzz_$r"); done
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

run_one() {
  local r=$1
  local bin="$build/fuzz/pathq_fuzz_$r"
  mkdir -p "$build/corpus/$r" "$build/artifacts/$r"
  local dict=()
  if [ -f "fuzz/dict/$r.dict" ]; then dict=(-dict="fuzz/dict/$r.dict"); fi
  local extra=()
  if [ "$workers" -gt 1 ]; then extra=(-fork="$workers" -ignore_crashes=0); fi
  set +e
  "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$r/" "${dict[@]}" "${extra[@]}" \
    "$build/corpus/$r" "fuzz/corpus/$r" > "$build/fuzz-$r.log" 2>&1
  local status=$?
  set -e
  local runs
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$build/fuzz-$r.log" | awk '{s += $2} END {print s + 0}')
  if [ "$status" -eq 0 ]; then
    echo "fuzz $r: $runs executions in ${seconds} s, no finding"
  else
    echo "fuzz $r: FINDING after $runs executions (exit $status); log: $build/fuzz-$r.log"
    grep -E 'ERROR|runtime error|contract violated|SUMMARY' "$build/fuzz-$r.log" | head -5
    for f in "$build/artifacts/$r"/*; do
      [ -e "$f" ] && echo "  input: $f   replay: $bin $f"
    done
    return 1
  fi
}

failed=0
pids=()
names=()
for r in "${readers[@]}"; do
  run_one "$r" > "$build/fuzz-$r.summary" 2>&1 &
  pids+=($!)
  names+=("$r")
  if [ ${#pids[@]} -ge "$parallel" ]; then
    wait "${pids[0]}" || failed=1
    cat "$build/fuzz-${names[0]}.summary"
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed=1
  cat "$build/fuzz-${names[$i]}.summary"
done
exit "$failed"
