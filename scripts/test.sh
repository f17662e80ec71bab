#!/usr/bin/env bash
# scripts/test.sh — runs every test of drs_fdw and ends with "N passed, N failed".
#
# On a fresh Debian 12 machine, as root: installs the packages it needs,
# builds and installs drs_fdw, starts a throw-away PostgreSQL 15 cluster
# (run by the postgres user) and the DRS simulator, then runs
#   1. the simulator's own tests            (sim/test_sim.py)
#   2. the pg_regress suite                 (sql/, expected/ via make installcheck)
#   3. the integration tests                (test/integration/*.py: faults,
#      cancellation, IAM, TLS, concurrency, equivalence, pg_cron, ...)
# Everything it started is stopped again, by pid.  Options:
#   --skip-install   do not call apt-get      --keep   keep the work directory
#   --only PATTERN   run only integration tests whose file name matches
set -uo pipefail

cd "$(dirname "$0")/.."
source scripts/lib.sh

skip_install=0
keep=0
only=
while [ $# -gt 0 ]; do
	case $1 in
		--skip-install) skip_install=1 ;;
		--keep) keep=1 ;;
		--only) only=$2; shift ;;
		*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

passed=0
failed=0
failures=()
record() {	# record NAME STATUS
	if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

[ $skip_install -eq 1 ] || install_deps || { echo "0 passed, 1 failed"; exit 1; }
build_install || { echo "0 passed, 1 failed"; exit 1; }

WORK=$(mktemp -d /tmp/drs_fdw_test.XXXXXX)
chmod 755 "$WORK"
export DRS_TEST_WORK=$WORK
cleanup() {
	stop_sim "$WORK/sim"
	stop_cluster "$WORK/pg"
	if [ $keep -eq 0 ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- simulator
log "simulator self-test"
if python3 sim/test_sim.py >"$WORK/sim_test.log" 2>&1; then
	n=$(grep -oE '^Ran [0-9]+' "$WORK/sim_test.log" | grep -oE '[0-9]+')
	passed=$((passed + ${n:-1}))
else
	tail -30 "$WORK/sim_test.log" >&2
	record "sim/test_sim.py" 1
fi

start_cluster "$WORK/pg" || { cat "$WORK/pg/"*.log >&2; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
start_sim "$WORK/sim" || { echo "$passed passed, $((failed + 1)) failed"; exit 1; }
log "PostgreSQL on $PGHOST:$PGPORT, simulator on $DRS_SIM_URL"

# ---------------------------------------------------------------- pg_regress
log "pg_regress"
rm -rf results regression.diffs regression.out
make -s installcheck >"$WORK/regress.log" 2>&1
while read -r line; do
	name=$(echo "$line" | sed -E 's/^(ok|not ok) +[0-9]+ +- +//; s/^test +//; s/ +\.\.\. .*//; s/ +[0-9]+ ms$//')
	case $line in
		*"... ok"* | "ok "*) record "regress/$name" 0 ;;
		*"... FAILED"* | "not ok "* | *"... failed"*) record "regress/$name" 1 ;;
	esac
done < <(grep -E '^(ok|not ok) |^test .* \.\.\. ' "$WORK/regress.log")
if ! grep -qE '^(ok|not ok) |\.\.\. ok' "$WORK/regress.log"; then
	cat "$WORK/regress.log" >&2
	record "pg_regress" 1
fi
[ -f regression.diffs ] && { head -200 regression.diffs >&2; cp regression.diffs "$WORK/"; }

# ---------------------------------------------------------------- integration
log "integration tests"
for t in test/integration/test_*.py; do
	[ -e "$t" ] || continue
	[ -n "$only" ] && [[ $t != *$only* ]] && continue
	out="$WORK/$(basename "$t" .py).log"
	python3 "$t" >"$out" 2>&1
	rc=$?
	# each file prints "PASS name" / "FAIL name" lines
	while read -r status name; do
		case $status in
			PASS) record "$name" 0 ;;
			FAIL) record "$name" 1 ;;
		esac
	done < <(grep -E '^(PASS|FAIL) ' "$out")
	if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
		record "$(basename "$t")" 1
	fi
	grep -E '^FAIL ' -A30 "$out" | head -60 >&2 || true
done

# ---------------------------------------------------------------- secrets
# No secret the simulator serves (they all contain CANARY) may appear in any
# output: test results, the server log, EXPLAIN output.
log "secret scan"
leaks=$(grep -lE 'CANARY-|-CANARY' results/*.out "$WORK/pg/server.log" "$WORK"/*.log 2>/dev/null |
	grep -v 'sim_test.log' || true)
if [ -n "$leaks" ]; then
	echo "secrets found in: $leaks" >&2
	record "no-secret-in-any-output" 1
else
	record "no-secret-in-any-output" 0
fi

# ---------------------------------------------------------------- crashes
# No backend may have died: PostgreSQL logs a crash as "terminated by signal"
# and then restarts every backend.
log "server log check"
if grep -E 'terminated by signal|was terminated by exception|PANIC:|server process .* exited with exit code [^01]' \
	"$WORK/pg/server.log" >&2; then
	record "no-backend-crash" 1
else
	record "no-backend-crash" 0
fi

if [ ${#failures[@]} -gt 0 ]; then
	printf 'failed: %s\n' "${failures[@]}" >&2
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
