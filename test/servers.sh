# test/servers.sh — start and stop throwaway PostgreSQL servers for the demo
# and benchmarks.  Source it; call servers_cleanup from an EXIT trap.
#
#   server_start NAME PORT [CONF_LINE...]   initdb + start, as an
#       unprivileged user when run as root (PostgreSQL refuses root);
#       listens on 127.0.0.1:PORT (keep PORT below 32768) and a socket in
#       its own directory.  Sets up logical decoding for walbridge.
#   server_psql NAME [psql args...]         psql to that server as postgres
#   walbridged_start NAME [walbridged args...]   walbridged in the
#       background, as that user too, logging to $servers_root/NAME.log,
#       its PID in $servers_root/NAME.pid (--pid-file)
#   walbridged_stop NAME                    SIGTERM, wait, SIGKILL if need be
#   proc_stop PID [SECONDS]                 the same for any process
#   proc_children_args PPID                 command lines of PPID's children
#   servers_cleanup                         stop every walbridged and
#       server started here, remove dirs (call it however the script ends)
#   install_walbridge REPO                  missing Debian packages, then
#       build and install that tree (sudo when not root)
#
# Processes are found and watched through /proc only, never ps or pkill:
# a minimal Debian has no procps.

pg_bindir=${pg_bindir:-/usr/lib/postgresql/15/bin}
servers_root=${servers_root:-$(mktemp -d /tmp/walbridge-servers.XXXXXX)}
servers_user=${servers_user:-wbtest}
declare -A server_port=()
declare -A walbridged_runner=()	# NAME -> PID of its background job

servers_as_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$servers_user" -- "$@"
	else
		"$@"
	fi
}

server_start() {
	local name=$1 port=$2
	shift 2
	local dir=$servers_root/$name
	if [ "$(id -u)" -eq 0 ]; then
		id "$servers_user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$servers_user"
		chown "$servers_user" "$servers_root"
	fi
	servers_as_user mkdir -p "$dir"
	servers_as_user "$pg_bindir/initdb" -D "$dir/data" -U postgres -A trust \
		--no-sync >"$dir/initdb.log" 2>&1
	{
		echo "port = $port"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$dir'"
		echo "wal_level = logical"
		echo "max_replication_slots = 32"
		echo "max_wal_senders = 32"
		echo "track_commit_timestamp = on"
		# (no grep -q on a pipe: with pipefail, its early exit fails the pipe)
		if "$pg_bindir/postgres" --describe-config 2>/dev/null | grep '^output_plugin_libraries' >/dev/null; then
			echo "output_plugin_libraries = 'pgoutput, test_decoding, walbridge, wal2json'"
		fi
		local line
		for line in "$@"; do echo "$line"; done
	} | servers_as_user tee -a "$dir/data/postgresql.conf" >/dev/null
	# known before it starts: a start that fails half way is stopped too
	server_port[$name]=$port
	servers_as_user "$pg_bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
}

server_psql() {
	local name=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${server_port[$name]}" -U postgres -d postgres "$@"
}

install_walbridge() {
	"$1/test/install-deps"
	make -C "$1" -s
	if [ "$(id -u)" -eq 0 ]; then
		make -C "$1" -s install >/dev/null
	else
		sudo make -C "$1" -s install >/dev/null
	fi
}

# proc_alive PID: the process exists and has not exited (a zombie, exited
# but not yet reaped by its parent, counts as gone).
proc_alive() {
	local stat
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) }			# after the command name: state ppid ...
	[ "${stat%% *}" != Z ]
}

# proc_children_args PPID: the command line of each live child of PPID,
# one a line, as `ps --ppid PPID -o args=` (read from /proc: a minimal
# Debian has no procps).
proc_children_args() {
	local p stat ppid args
	for p in /proc/[0-9]*; do
		read -r stat 2>/dev/null <"$p/stat" || continue
		stat=${stat##*) }			# after the command name: state ppid ...
		read -r _ ppid _ <<<"$stat"
		[ "$ppid" = "$1" ] || continue
		mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
		[ ${#args[@]} -gt 0 ] && echo "${args[*]}"
	done
	return 0
}

# proc_stop PID [SECONDS]: SIGTERM, then SIGKILL if it is still there after
# SECONDS (default 30).  Returns once it is gone, or 1 if even SIGKILL did
# not end it within 5 s.
proc_stop() {
	local pid=$1 secs=${2:-30} i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < secs * 10; i++)); do
		proc_alive "$pid" || return 0
		sleep 0.1
	done
	echo "process $pid did not stop within $secs s after SIGTERM: sending SIGKILL" >&2
	kill -KILL "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		proc_alive "$pid" || return 0
		sleep 0.1
	done
	echo "process $pid survived SIGKILL" >&2
	return 1
}

walbridged_start() {
	local name=$1
	shift
	servers_as_user "$pg_bindir/walbridged" --pid-file "$servers_root/$name.pid" "$@" \
		>"$servers_root/$name.log" 2>&1 </dev/null &
	walbridged_runner[$name]=$!
}

# As root the background job is runuser (in a subshell): a signal to it
# does not reach walbridged as SIGTERM, or ends it with SIGKILL 2 s later,
# before Kafka acknowledged what is in flight.  So the signal goes to the
# PID in walbridged's own PID file, after checking that the PID is a
# walbridged (the file outlives a crash).
walbridged_stop() {
	local name=$1 runner=${walbridged_runner[$1]:-} pidfile=$servers_root/$1.pid pid= comm= i
	[ -n "$runner" ] || return 0
	unset "walbridged_runner[$name]"
	# walbridged writes the file as soon as its configuration is read
	for ((i = 0; i < 50; i++)); do
		[ -s "$pidfile" ] && break
		proc_alive "$runner" || break
		sleep 0.1
	done
	read -r pid 2>/dev/null <"$pidfile" || true
	if [[ $pid =~ ^[0-9]+$ ]] && read -r comm 2>/dev/null <"/proc/$pid/comm" && [ "$comm" = walbridged ]; then
		proc_stop "$pid" 30 || true
	elif proc_alive "$runner"; then
		echo "walbridged $name wrote no PID file: stopping its job $runner" >&2
	fi
	# the job ends with walbridged; if something kept it alive, end it too
	proc_stop "$runner" 5 || true
	wait "$runner" 2>/dev/null || true
}

# Idempotent, and never fails: it runs from EXIT traps, also after errors.
servers_cleanup() {
	local name
	for name in "${!walbridged_runner[@]}"; do
		walbridged_stop "$name"
	done
	for name in "${!server_port[@]}"; do
		if [ -f "$servers_root/$name/data/postmaster.pid" ]; then
			servers_as_user "$pg_bindir/pg_ctl" -D "$servers_root/$name/data" -m fast -w -t 30 stop \
				>/dev/null 2>&1 ||
				servers_as_user "$pg_bindir/pg_ctl" -D "$servers_root/$name/data" -m immediate -w stop \
					>/dev/null 2>&1 || true
		fi
		unset "server_port[$name]"
	done
	rm -rf "$servers_root"
}
