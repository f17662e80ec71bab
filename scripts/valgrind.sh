#!/usr/bin/env bash
# scripts/valgrind.sh — the test suite with every backend under valgrind memcheck.
#
# Starts a throw-away cluster whose postmaster (and so every backend, which
# it forks) runs under memcheck with leak checking, starts the simulator,
# runs the pg_regress suite and the integration tests, and reports every
# memcheck error and every definite leak whose stack passes through drs_fdw.
# Timing-sensitive integration checks may fail under valgrind's slowdown;
# they are reported but do not count.  Ends with "memcheck: N errors".
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
command -v valgrind >/dev/null || { apt-get install -y -qq valgrind >/dev/null; }
build_install

WORK=$(mktemp -d /tmp/drs_fdw_valgrind.XXXXXX)
chmod 755 "$WORK"
export DRS_TEST_WORK=$WORK
dir=$WORK/pg
mkdir -p "$dir"; chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
user=postgres; [ "$(id -u)" -ne 0 ] && user=$(id -un)
bindir=$(pg_bindir)
as_owner "$bindir/initdb" -D "$dir/data" -U "$user" --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
export PGPORT; PGPORT=$(free_port)
export PGHOST=$dir PGUSER=$user PGDATABASE=postgres
printf "port = %s\nlisten_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\ntimezone = 'UTC'\n%s\n" \
	"$PGPORT" "$dir" "shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16" | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
cp test/valgrind/postgres.supp "$WORK/postgres.supp"; chmod 644 "$WORK/postgres.supp"
mkdir -p "$WORK/vg"; [ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/vg"

as_owner valgrind --quiet --leak-check=full --show-leak-kinds=definite \
	--errors-for-leak-kinds=definite --error-limit=no --num-callers=40 \
	--suppressions="$WORK/postgres.supp" --log-file="$WORK/vg/%p.log" \
	"$bindir/postgres" -D "$dir/data" >"$dir/server.log" 2>&1 &
for i in $(seq 1 120); do psql -X -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
psql -X -c 'SELECT 1' >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
start_sim "$WORK/sim"
cleanup() {
	stop_sim "$WORK/sim"
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 120 stop >/dev/null 2>&1
}
trap cleanup EXIT

log "pg_regress under valgrind"
make -s installcheck 2>&1 | grep -E '^(ok|not ok)|tests|\.\.\.'
log "integration tests under valgrind (timing checks may fail)"
for t in test/integration/test_*.py; do
	# resident memory is valgrind's own under valgrind: test_memory.py measures nothing
	[[ $t == *test_memory.py ]] && continue
	python3 "$t" 2>&1 | grep -E '^(PASS|FAIL)'
done
cleanup
trap - EXIT
sleep 2

# memcheck errors and definite leaks whose stack passes through drs_fdw
errors=0
for f in "$WORK"/vg/*.log; do
	awk -v file="$f" '
		/^==[0-9]+== [A-Z]/ { if (block != "" && hit) { print block; n++ } block = $0 "\n"; hit = 0; next }
		/^==[0-9]+==    (at|by) / { block = block $0 "\n"; if ($0 ~ /drs_fdw|src\/(fetch|api|http|auth|convert|option|pushdown|resource)\.c/) hit = 1; next }
		END { if (block != "" && hit) { print block; n++ } exit n > 0 }
	' "$f" || errors=$((errors + 1))
done
echo "memcheck: $errors backend(s) with errors in drs_fdw (logs in $WORK)"
[ $errors -eq 0 ]
