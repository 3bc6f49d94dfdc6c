#!/usr/bin/env bash
#
# test/demo.sh [--real-kafka] — install what walbridge needs, build it, and
# show two PostgreSQL servers kept in step through Kafka (`make demo`).
#
# Starts, and removes at the end: two throwaway servers on 127.0.0.1:25441
# (node "east") and 127.0.0.1:25442 (node "west"), a Kafka broker (the
# librdkafka mock cluster, test/broker/mock_broker, quick to start) and one
# walbridged per node.  Sync is set up with psql functions only.
#
# --real-kafka (or WALBRIDGE_KAFKA=real): a real Apache Kafka broker
# instead (test/kafka/broker: Maven and a JDK are installed when missing,
# Kafka's jars fetched with mvn on first use), and walbridged creates its
# topics itself (create_topics = on).
#
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
real_kafka=${WALBRIDGE_KAFKA:-}
case ${1:-} in
	--real-kafka) real_kafka=real ;;
	"") ;;
	*) echo "usage: test/demo.sh [--real-kafka]" >&2; exit 2 ;;
esac

source "$repo/test/servers.sh"
broker_pid=
kafka_dir=
# However the demo ends (done, failed, Ctrl-C, SIGTERM): stop walbridged by
# the PID in its PID file, the broker by its PID, then the servers.  No ps
# or pkill: a minimal Debian has no procps.
cleanup() {
	local rc=$?
	trap '' INT TERM			# a second Ctrl-C does not cut the cleanup short
	set +e
	if [ -n "$kafka_dir" ]; then
		# the real broker lives in $servers_root, which servers_cleanup
		# removes: stop each walbridged, then the broker, before that
		for node in "${!walbridged_runner[@]}"; do
			walbridged_stop "$node"
		done
		"$repo/test/kafka/broker" stop "$kafka_dir" 30
	fi
	servers_cleanup				# each walbridged first, then the servers
	if [ -n "$broker_pid" ]; then
		proc_stop "$broker_pid" 10
		wait "$broker_pid" 2>/dev/null
	fi
	wait 2>/dev/null			# anything else started here (psql)
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[ "$real_kafka" != real ] || "$repo/test/install-deps" kafka
install_walbridge "$repo"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
psql_on() { local node=$1; shift; server_psql "$node" -P pager=off "$@"; }

step "two PostgreSQL 15 servers (wal_level=logical, track_commit_timestamp=on, walbridge in output_plugin_libraries)"
server_start east 25441
server_start west 25442
schema="CREATE EXTENSION walbridge;
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, city text);
CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer REFERENCES customers, total numeric(10,2), placed timestamptz DEFAULT now());"
psql_on east -c "$schema"
psql_on west -c "$schema"
psql_on east -c "INSERT INTO customers SELECT g, 'customer ' || g, 'Lyon' FROM generate_series(1, 100) g"
echo "east has 100 customers before sync starts; west is empty"

if [ "$real_kafka" = real ]; then
	step "a real Apache Kafka broker (one KRaft node, test/kafka/broker)"
	"$repo/test/kafka/broker" resolve >/dev/null	# as root: into the cache the server user reads
	kafka_dir=$servers_root/kafka
	servers_as_user mkdir -p "$kafka_dir"
	brokers=$(servers_as_user "$repo/test/kafka/broker" start "$kafka_dir")
	topics_conf="create_topics = on"
	echo "bootstrap servers: $brokers (log: $kafka_dir/kafka.log)"
else
	step "a Kafka broker (librdkafka's mock cluster, a process of its own)"
	"$repo/test/broker/mock_broker" 1 walbridge.east walbridge.west >"$servers_root/broker.out" 2>/dev/null </dev/null &
	broker_pid=$!
	for _ in $(seq 50); do [ -s "$servers_root/broker.out" ] && break; sleep 0.1; done
	brokers=$(head -1 "$servers_root/broker.out")
	[ -n "$brokers" ] || { echo "the mock broker did not start" >&2; exit 1; }
	topics_conf="create_topics = off"
	echo "bootstrap servers: $brokers"
fi

step "set up bidirectional sync from psql"
psql_on east -c "SELECT walbridge.create_node('east')" -c "SELECT walbridge.start_sync(ARRAY['west'])"
psql_on west -c "SELECT walbridge.create_node('west')" -c "SELECT walbridge.start_sync(ARRAY['east'])"

step "one walbridged per node"
printf "%s\nreplication_factor = 1\n" "$topics_conf" | servers_as_user tee "$servers_root/walbridged.conf" >/dev/null
for node in east west; do
	walbridged_start "$node" -d "host=127.0.0.1 port=${server_port[$node]} user=postgres dbname=postgres" \
		-b "$brokers" -c "$servers_root/walbridged.conf"
done
echo "logs: $servers_root/east.log, $servers_root/west.log"

checksum="SELECT 'customers' AS tbl, count(*) AS rows, md5(string_agg(c::text, ',' ORDER BY id)) AS checksum FROM customers c
UNION ALL SELECT 'orders', count(*), md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o"
wait_converged() {
	for i in $(seq 300); do
		if [ "$(psql_on east -Atc "$checksum")" = "$(psql_on west -Atc "$checksum")" ]; then
			echo "converged after about $((i / 10)).$((i % 10)) s"
			return 0
		fi
		sleep 0.1
	done
	echo "the nodes did not converge; the walbridged logs:" >&2
	tail -n 20 "$servers_root/east.log" "$servers_root/west.log" >&2
	return 1
}

step "west receives east's existing rows (the initial copy)"
wait_converged
psql_on west -c "SELECT city, count(*) FROM customers GROUP BY city"

step "write on east, then on both sides at once"
psql_on east -c "INSERT INTO customers SELECT g, 'customer ' || g, 'Paris' FROM generate_series(101, 150) g" \
	-c "INSERT INTO orders SELECT g, g, g * 9.99 FROM generate_series(1, 150) g"
wait_converged
psql_on west -c "INSERT INTO customers SELECT g, 'customer ' || g, 'Oslo' FROM generate_series(1001, 1050) g" \
	-c "UPDATE customers SET city = 'Nantes' WHERE id <= 10" \
	-c "DELETE FROM orders WHERE id > 140" &
west_writes=$!
psql_on east -c "UPDATE orders SET total = total + 1 WHERE id <= 5" \
	-c "INSERT INTO customers VALUES (151, 'customer 151', 'Lille')"
wait "$west_writes"

step "wait until both databases are the same"
wait_converged
echo "east:"; psql_on east -c "$checksum"
echo "west:"; psql_on west -c "$checksum"

step "walbridge.status() on west"
psql_on west -c "SELECT direction, peer, state, confirmed_lsn, lag_bytes, kafka_offset, conflicts FROM walbridge.status()"

step "done: walbridged, the broker and both servers are stopped and removed"
