#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] — fuzz drs_fdw's JSON handling with libFuzzer.
#
# Builds test/fuzz/fuzz_convert.c (src/convert.c over a stubbed backend,
# test/fuzz/pg_stubs.c) with clang's libFuzzer, AddressSanitizer and
# UBSan, and runs it for SECONDS (default 300) from the seed corpus in
# test/fuzz/corpus.  A crash leaves its input as crash-* in the work dir.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
command -v clang >/dev/null || apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
command -v pg_config >/dev/null || { echo "needs postgresql-server-dev-15" >&2; exit 1; }

WORK=$(mktemp -d /tmp/drs_fdw_fuzz.XXXXXX)
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$(pg_config --includedir-server)" $(pkg-config --cflags json-c) -Isrc \
	-Wno-ignored-attributes \
	src/convert.c test/fuzz/pg_stubs.c test/fuzz/fuzz_convert.c \
	"$(pg_config --pkglibdir)/libpgport.a" $(pkg-config --libs json-c) \
	-o "$WORK/fuzz_convert"
mkdir -p "$WORK/corpus"
cp test/fuzz/corpus/* "$WORK/corpus/"
cd "$WORK"
./fuzz_convert -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 corpus 2>&1 |
	grep -E 'Done|stat::|ERROR|SUMMARY' || true
if ls crash-* >/dev/null 2>&1; then
	echo "fuzz: crashes found in $WORK"; exit 1
fi
echo "fuzz: no crash in ${seconds}s (work dir $WORK)"
