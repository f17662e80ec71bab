# scripts/lib.sh — shared by demo.sh, test.sh and bench: install what drs_fdw
# needs, build it, and start/stop a throw-away PostgreSQL cluster and the DRS
# simulator.  Source it; it defines functions and changes nothing by itself.
#
# A cluster is a temporary directory holding data/, the socket and logs.  As
# root (CI), the server runs as the "postgres" user, because PostgreSQL
# refuses to run as root; the client tools connect over the socket as
# "postgres" with trust authentication.  Only processes started here are
# stopped, by their pid.

DRS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRS_PACKAGES="build-essential pkg-config postgresql-15 postgresql-server-dev-15 \
postgresql-15-cron postgresql-plpython3-15 libcurl4-openssl-dev libjson-c-dev \
python3 curl openssl ca-certificates"

log() { printf '%s\n' "== $*" >&2; }

# Install the Debian packages that are missing (needs root, or sudo).
install_deps() {
	local missing=()
	for p in $DRS_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing: ${missing[*]}"
	local SUDO=
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >/dev/null
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian's postgresql package creates and starts a "main" cluster; we use our own.
}

pg_bindir() { pg_config --bindir; }

build_install() {
	log "building drs_fdw"
	make -C "$DRS_ROOT" -s clean >/dev/null
	make -C "$DRS_ROOT" -s >/dev/null
	local SUDO=
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO make -C "$DRS_ROOT" -s install >/dev/null
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Run a command as the cluster's owner.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_cluster DIR [extra postgresql.conf lines...]
# Exports PGHOST, PGPORT, PGUSER, PGDATABASE for the client tools.
start_cluster() {
	local dir=$1; shift
	local bindir; bindir=$(pg_bindir)
	mkdir -p "$dir"
	chmod 755 "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
	local user=postgres
	[ "$(id -u)" -ne 0 ] && user=$(id -un)
	as_owner "$bindir/initdb" -D "$dir/data" -U "$user" --auth=trust \
		--no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
	export PGPORT; PGPORT=$(free_port)
	export PGHOST=$dir PGUSER=$user PGDATABASE=postgres
	{
		echo "port = $PGPORT"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		echo "shared_preload_libraries = 'pg_cron'"
		echo "cron.database_name = 'postgres'"
		echo "cron.use_background_workers = on"
		echo "max_worker_processes = 16"
		echo "fsync = off"
		echo "log_line_prefix = '%m [%p] '"
		echo "timezone = 'UTC'"
		for line in "$@"; do echo "$line"; done
	} | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
	as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
	# the postmaster's pid, so that stop_cluster stops only what we started
	head -1 "$dir/data/postmaster.pid" >"$dir/postmaster.pid"
}

stop_cluster() {
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] || return 0
	as_owner "$(pg_bindir)/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || {
		local pid; pid=$(cat "$dir/postmaster.pid" 2>/dev/null)
		[ -n "$pid" ] && kill "$pid" 2>/dev/null
	}
}

# start_sim DIR [simulator options...]: exports DRS_SIM_PORT, DRS_SIM_URL,
# DRS_SIM_TOKEN, DRS_SIM_PROJECT and the IAM test credentials.
start_sim() {
	local dir=$1; shift
	mkdir -p "$dir"
	rm -f "$dir/sim.port"
	python3 "$DRS_ROOT/sim/drs_sim.py" --host 127.0.0.1 --port 0 \
		--port-file "$dir/sim.port" --pid-file "$dir/sim.pid" --quiet "$@" \
		>"$dir/sim.log" 2>&1 &
	local i
	for i in $(seq 1 300); do
		[ -s "$dir/sim.port" ] && break
		sleep 0.1
	done
	[ -s "$dir/sim.port" ] || { cat "$dir/sim.log" >&2; return 1; }
	export DRS_SIM_PORT; DRS_SIM_PORT=$(cat "$dir/sim.port")
	export DRS_SIM_URL="http://127.0.0.1:$DRS_SIM_PORT"
	export DRS_SIM_TOKEN="tok-CANARY-static-0001"
	export DRS_SIM_PROJECT="0123456789abcdef0123456789abcdef"
	export DRS_SIM_USER="drs_user" DRS_SIM_PASSWORD="pw-CANARY-iam" DRS_SIM_DOMAIN="drs_domain"
}

stop_sim() {
	local dir=$1
	local pid; pid=$(cat "$dir/sim.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	local i
	for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
}
