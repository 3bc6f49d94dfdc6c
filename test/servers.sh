# test/servers.sh — start and stop throwaway PostgreSQL servers for the demo
# and benchmarks.  Source it; call servers_cleanup from an EXIT trap.
#
#   server_start NAME PORT [CONF_LINE...]   initdb + start, as an
#       unprivileged user when run as root (PostgreSQL refuses root);
#       listens on 127.0.0.1:PORT (keep PORT below 32768) and a socket in
#       its own directory.  Sets up logical decoding for walbridge.
#   server_psql NAME [psql args...]         psql to that server as postgres
#   servers_cleanup                         stop every server, remove dirs
#   install_walbridge REPO                  missing Debian packages, then
#       build and install that tree (sudo when not root)

pg_bindir=${pg_bindir:-/usr/lib/postgresql/15/bin}
servers_root=${servers_root:-$(mktemp -d /tmp/walbridge-servers.XXXXXX)}
servers_user=${servers_user:-wbtest}
declare -A server_port=()

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
	servers_as_user "$pg_bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
	server_port[$name]=$port
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

servers_cleanup() {
	local name
	for name in "${!server_port[@]}"; do
		servers_as_user "$pg_bindir/pg_ctl" -D "$servers_root/$name/data" -m fast -w stop \
			>/dev/null 2>&1 || true
	done
	rm -rf "$servers_root"
}
