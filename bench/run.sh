#!/usr/bin/env bash
# bench/run.sh [--quick] — the drs_fdw benchmark (see bench/bench.py).
# Installs what it needs (as root), builds and installs drs_fdw, starts a
# throw-away cluster, runs the benchmark and writes doc/benchmark.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
args=()
[ "${1:-}" = "--quick" ] && args=(--sizes 1000,10000 --runs 3)
install_deps
build_install
WORK=$(mktemp -d /tmp/drs_fdw_bench.XXXXXX)
chmod 755 "$WORK"
trap 'stop_cluster "$WORK/pg"; rm -rf "$WORK"' EXIT
start_cluster "$WORK/pg"
python3 bench/bench.py "${args[@]}"
