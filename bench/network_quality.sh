#!/usr/bin/env bash
# The whole-network quality table (examples/network_quality.cpp), split over P processes of one
# thread each, merged into one CSV sorted by network, mode, method, bits and configuration.
#
# Usage: bench/network_quality.sh BINARY OUT.csv [P] [-- network_quality options]
#   BINARY  the built examples/network_quality (e.g. build/examples/network_quality)
#   P       processes (default: the number of cores)
# The configurations: $SEQUENTIAL_CONFIGS and $INDEPENDENT_CONFIGS (comma-separated, see
# examples/network_quality.cpp); by default the sequential runs cover every question the defaults
# depend on and the independent runs the plain rule, the old tool default and the column search.
set -euo pipefail
bin=$1
out=$2
procs=${3:-$(nproc)}
shift $(( $# >= 3 ? 3 : $# ))
[ "${1:-}" = "--" ] && shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sequential_configs=${SEQUENTIAL_CONFIGS:-column,layer,layer+clip,column+colsearch,column+energy,column+polish,column+classic}
independent_configs=${INDEPENDENT_CONFIGS:-column,layer+clip,column+colsearch}
for ((i = 0; i < procs; ++i)); do
  (
    OMP_NUM_THREADS=1 "$bin" --modes sequential --configs "$sequential_configs" --shard "$i/$procs" \
      --out "$tmp/seq.$i.csv" "$@"
    OMP_NUM_THREADS=1 "$bin" --modes independent --configs "$independent_configs" --shard "$i/$procs" \
      --out "$tmp/ind.$i.csv" "$@"
  ) &
done
wait
{
  echo "network,mode,method,bits,config,accuracy,float_accuracy,output_squared_relative_error,seconds"
  cat "$tmp"/*.csv | grep -v '^network,' | sort -t, -k1,1 -k2,2r -k3,3 -k4,4n -k5,5
} > "$out"
echo "wrote $out ($(($(wc -l < "$out") - 1)) runs)"
