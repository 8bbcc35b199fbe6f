#!/usr/bin/env bash
# Builds the tests and the pathq tool with AddressSanitizer + UndefinedBehaviorSanitizer
# (-O1, line tables, no recovery: the first finding fails the run), runs the whole test suite on
# them, then a LeakSanitizer run of the tool on a small end-to-end job (a good run and a failing
# one). Benches and examples are not built, to keep the time down (the tests build as unity units:
# PATHQ_UNITY_TESTS); for the same reason two of UBSan's checks are left to ASan, which catches the
# same errors at run time: object-size (an access beyond its object) and pointer-overflow (they
# cost a quarter of the compile time).
# The fuzz harnesses (scripts/fuzz.sh) run every UBSan check. The Python module (loaded by an
# unsanitized interpreter) and the MPI tests (OpenMPI's own allocations) are left out here.
#
#   scripts/sanitize.sh
#
# Environment: PATHQ_SANITIZE_CXX (compiler, default clang++ when installed, else g++),
# PATHQ_SANITIZE_BUILD (build directory, default build-sanitize), PATHQ_BUILD_JOBS (compile jobs,
# default 2), PATHQ_TEST_JOBS (ctest jobs, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${PATHQ_SANITIZE_BUILD:-build-sanitize}
jobs=${PATHQ_BUILD_JOBS:-2}
test_jobs=${PATHQ_TEST_JOBS:-2}
cxx=${PATHQ_SANITIZE_CXX:-$(command -v clang++ || command -v g++)}
flags="-fsanitize=address,undefined -fno-sanitize=object-size,pointer-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer"

export ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=print_suppressions=0

start=$(date +%s)
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Sanitize \
  -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1 $flags" -DCMAKE_EXE_LINKER_FLAGS_SANITIZE="$flags" \
  -DPATHQ_BUILD_TESTS=ON -DPATHQ_BUILD_TOOLS=ON -DPATHQ_BUILD_BENCH=OFF -DPATHQ_BUILD_EXAMPLES=OFF -DPATHQ_NATIVE=OFF \
  -DPATHQ_BUILD_PYTHON=OFF -DPATHQ_USE_MPI=OFF \
  > "$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" -j"$jobs"
built=$(date +%s)
echo "sanitize: built pathq_tests and pathq with $(basename "$cxx") in $((built - start)) s"

# The whole suite but the packaging tests (they build an unsanitized consumer project).
ctest --test-dir "$build" --output-on-failure -j"$test_jobs" -E '^package\.'
tested=$(date +%s)
echo "sanitize: test suite passed under ASan + UBSan in $((tested - built)) s"

# LeakSanitizer on the tool: a small end-to-end job, then a job that fails half way.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(3)
np.save(f"{sys.argv[1]}/W.npy", rng.standard_normal((32, 16)).astype(np.float32))
np.save(f"{sys.argv[1]}/X.npy", rng.standard_normal((64, 32)))
np.save(f"{sys.argv[1]}/X8.npy", rng.standard_normal((64, 8)))
PY
pathq="$build/tools/pathq"
ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=1 "$pathq" layer --method gpfq --weights "$work/W.npy" \
  --inputs "$work/X.npy" --bits 4 --out "$work/Q.npy" --codes "$work/C.npy" --report "$work/r.json"
for method in msq spfq optq; do
  if "$pathq" layer --help | grep -q " $method"; then
    "$pathq" layer --method "$method" --weights "$work/W.npy" --inputs "$work/X.npy" --out "$work/Q_$method.npy"
  fi
done
set +e
"$pathq" layer --method gpfq --weights "$work/W.npy" --inputs "$work/X8.npy" --out "$work/bad.npy" 2> "$work/err"
status=$?
set -e
if [ "$status" -eq 0 ] || [ -e "$work/bad.npy" ] || [ "$(wc -l < "$work/err")" -ne 1 ]; then
  echo "sanitize: the failing job should exit non-zero with one line and no output; got status $status:" >&2
  cat "$work/err" >&2
  exit 1
fi
echo "sanitize: LeakSanitizer found no leak in the tool (good and failing jobs) in $(($(date +%s) - tested)) s"
