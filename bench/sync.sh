#!/bin/bash
#
# bench/sync.sh -- end-to-end one-way sync A -> B: walbridge (walbridged on
# each node, through Kafka) beside PostgreSQL's native logical replication
# (CREATE PUBLICATION / CREATE SUBSCRIPTION) and beside Debezium (its
# PostgreSQL source connector into Kafka, its JDBC sink connector out of
# it, on Kafka Connect), on the same two servers
#
# Usage: bench/sync.sh                                  all three methods, a real broker
#        BENCH_ROWS=20000 bench/sync.sh                 quick check (a few minutes)
#        BENCH_KAFKA=mock bench/sync.sh                 walbridge and native on the mock broker
#        BENCH_METHODS="walbridge debezium" bench/sync.sh   some of the methods
#
# Environment:
#   BENCH_ROWS             rows in the throughput workload (default 1000000)
#   BENCH_RUNS             runs of each method (default 1); medians are reported
#   BENCH_PORT_A           loopback TCP port of server A (default 25710, < 32768)
#   BENCH_PORT_B           loopback TCP port of server B (default 25711, < 32768)
#   BENCH_LATENCY_SECONDS  length of the latency test (default 20; 5 when
#                          BENCH_ROWS < 100000)
#   BENCH_LATENCY_TPS      its rate, transactions per second (default 2000)
#   BENCH_TIMEOUT          seconds a phase may take before the script gives
#                          up (default 3600)
#   BENCH_TRANSPORT        how walbridged and the native subscription reach
#                          PostgreSQL: unix (the servers' sockets, default)
#                          or tcp (127.0.0.1); the same for both methods,
#                          see below
#   BENCH_FETCH_WAIT_MS    fetch.wait.max.ms of B's Kafka consumer (on the
#                          mock broker default 10, see below; on a real one
#                          librdkafka's default, 500, unless given)
#   BENCH_KAFKA            real: a real Apache Kafka broker (test/kafka/broker,
#                          one KRaft node, the default when java and mvn are
#                          installed or we are root, who installs them);
#                          mock: librdkafka's mock cluster
#                          (test/broker/mock_broker), without Debezium
#   BENCH_METHODS          the methods measured (default "walbridge native
#                          debezium" on a real broker, "walbridge native" on
#                          the mock)
#   BENCH_KAFKA_PORT       the real broker's client port (default 25720; its
#                          controller's is the next one)
#   BENCH_CONNECT_PORT     Kafka Connect's REST port (default 25810)
#   BENCH_BODY_BYTES       give bench a column e of that many bytes per row,
#                          stored out of line (default 0: no such column);
#                          the update phase leaves it alone
#   BENCH_FULL_ROWS        on: REPLICA IDENTITY FULL on A's bench table, in
#                          every method's database, as start_sync() sets it
#                          on a mesh node for large values (default off);
#                          with BENCH_BODY_BYTES it measures that rule's cost
#
# What it does:
#   1. installs missing Debian packages (test/install-deps), builds and
#      installs this tree;
#   2. starts two throwaway servers, A and B (test/servers.sh; fsync off
#      and autovacuum off: the disk is not what is measured) and a Kafka
#      broker with the topics walbridge.a and walbridge.b: a real one
#      (test/kafka/broker, with the JVM options of Kafka's own start
#      script and a 1 GB heap) or the mock (test/broker/mock_broker);
#   3. three separate pairs of databases with the same tables:
#        bench(id int primary key, a int, b text, c timestamptz, d numeric)
#        lat(id bigserial primary key, t0 timestamptz, arrived timestamptz)
#        mark(id int primary key, arrived timestamptz)
#      - "postgres" on A and B: walbridge.  A is node a (start_sync('{}')),
#        B is node b (start_sync('{a}', full_rows => false): a one-way mirror), one walbridged per node
#        (create_topics = off, replication_factor = 1);
#      - "native" on A and B: CREATE PUBLICATION bench_pub FOR TABLE bench,
#        lat, mark on A; CREATE SUBSCRIPTION bench_sub on B;
#      - "debezium" on A and B: Kafka Connect (bench/debezium/connect, one
#        standalone worker, the JVM options of Kafka's connect-standalone.sh
#        with a 1 GB heap) runs Debezium's PostgreSQL connector on A's
#        database (plugin.name=pgoutput, its own slot and publication) and
#        Debezium's JDBC sink into B's, with the settings below
#        (debezium_source, debezium_sink);
#      On B, a BEFORE INSERT trigger sets lat.arrived and mark.arrived to
#      clock_timestamp() (ENABLE ALWAYS: walbridge and native apply with
#      session_replication_role = replica, where triggers otherwise do not
#      fire; the JDBC sink writes as an ordinary session, INSERT ... ON
#      CONFLICT DO UPDATE, whose insert fires it too);
#   4. per run, the methods one after the other, never at the same time,
#      the order rotating between runs.  While one is measured the others
#      are stopped: walbridged A and B get SIGTERM, the subscription is
#      disabled, Kafka Connect gets SIGTERM (it commits its offsets; the
#      next start goes on from them).  Before a method is measured, it is
#      started and a marker row's round trip A -> B shows that it is
#      running and caught up;
#   5. throughput: the workload of bench/run and bench/publish.sh written
#      on A, in three phases: BENCH_ROWS rows inserted, then all updated,
#      then all deleted, 1,000 rows per transaction.  After each phase, A
#      inserts a marker row (its own small transaction, after the phase's
#      last one).  Both methods apply in commit order, so when the marker
#      is on B the whole phase is; the phase's time runs from its start on
#      A (clock_timestamp()) to the marker's arrival on B (the trigger's
#      clock_timestamp(); the same machine, the same clock), so the polling
#      interval does not matter.  The next phase starts only after that,
#      and after B's table was checked equal to A's (count and a sum of
#      row hashes, untimed; for Debezium checked again for up to 30 s if it
#      differs at first, see below).  "write" is the time A took to run the
#      phase, "catch-up" the time from its end until B had all of it;
#   6. latency: pgbench on A, -R BENCH_LATENCY_TPS for BENCH_LATENCY_SECONDS
#      (8 clients), each transaction inserting one row into lat.  Latency
#      is the row's arrival on B (the trigger) minus its commit time on A
#      (pg_xact_commit_timestamp(xmin); track_commit_timestamp is on);
#      B's own commit follows the trigger within the same transaction
#      (for walbridge, its origin and progress statements are in the same
#      pipeline as the row; COMMIT is one more round trip);
#   7. prints each measurement, the medians, the ratios of walbridge to the
#      others, and the CPU seconds and peak RSS of each process involved
#      during the throughput phases (peak RSS: VmHWM, reset through
#      /proc/PID/clear_refs when the phases start, where allowed; else the
#      process's peak since it started).
#
# Debezium, configured as its documentation shows for PostgreSQL to
# PostgreSQL: the source with plugin.name=pgoutput, its own slot
# (debezium) and a publication of the three tables it creates
# (publication.autocreate.mode=filtered), topics created by Connect with
# one partition; the sink with insert.mode=upsert,
# primary.key.mode=record_key, delete.enabled=true, schema.evolution=none
# (B's tables exist), one task.  The sink reads Debezium's change events
# as they are: its documentation says it needs no ExtractNewRecordState
# (that transform is for other sinks; with it, deletes must be kept as
# tombstones, drop.tombstones=false, or the sink never sees them); it
# takes a delete event's key as the row to delete (the tombstone the
# source writes after it finds nothing left to do; every DELETE reaches B,
# the checksum after the delete phase shows it).  Two choices are the
# benchmark's:
#   - one topic for the three tables (RegexRouter, "dbz.a"), as walbridge
#     has one per node: with a topic per table (Debezium's default) the
#     sink reads the tables' topics in no common order, and a marker
#     could arrive before the rows committed before it, so the timing
#     method above would not hold.  The sink names each row's table from
#     its source block (collection.name.format=${source.table}).
# Debezium's PostgreSQL connector cuts the trailing zeros of a numeric
# without a declared scale (bench.d: A's 3.0 arrives as 3, equal but not
# the same text), so its checksum compares d without them
# (trim_scale(d) on both sides); walbridge and native keep the value as
# written and are compared as they are.
# Debezium reaches PostgreSQL by JDBC, over TCP (127.0.0.1), whatever
# BENCH_TRANSPORT says.  Everything else is left at its default, as a
# user starting from the documentation would: JSON with schemas,
# poll.interval.ms 500 in the source, batch.size 500 in the sink.  Both
# keep commit order (one topic, one partition, one sink task), but a
# sink batch holding rows of two tables writes each table's rows as a
# statement of its own, so B may see the marker a moment before the
# last rows of its batch: the checksum after a phase waits for them.
#
# Transport: a walsender sends every change as soon as it is decoded, so
# when its client keeps up (walbridged does; native's apply worker, the
# slower reader, mostly does not) each change is a TCP segment of its own:
# over TCP loopback that cost A's walsender about 1.7 times the CPU of
# native's in our runs, on a machine where every CPU second counts.  Over
# the Unix socket it does not.  walbridged runs beside its database, where
# the socket is the natural way in, so both methods use it by default;
# BENCH_TRANSPORT=tcp measures the other case (BENCHMARKS.md has both).
#
# On the mock broker (BENCH_KAFKA=mock):
# The mock broker keeps only the newest ~5 MiB per partition.  A publishes
# faster than B applies, so B's walbridged is told to prefetch (librdkafka's
# queued.max.messages.kbytes and queued.min.messages at their maximums,
# about 2 GB and 10 million messages): a real Kafka keeps what B has not
# read yet, the mock would drop it.  And the mock answers a fetch that
# finds no data only after the consumer's whole fetch.wait.max.ms, even if
# data arrives meanwhile (librdkafka's rdkafka_mock_handlers.c says so: "we
# should cut the wait short ... but that is too much of a hassle"); a real
# broker answers as soon as data arrives.  With librdkafka's default of
# 500 ms, every row that arrives while B is idle would wait 0 to 500 ms in
# the mock alone (measured: median 272 ms, p99 502 ms at 100 tps), so B's
# walbridged uses 10 ms here.
#
# Everything runs on one machine: servers, walbridged, broker and pgbench
# compete for its cores, which a deployment with Kafka elsewhere would
# not.  The machine may be shared and noisy: read medians and ratios, not
# absolute times.

set -euo pipefail
shopt -s inherit_errexit	# failures inside $(...) stop the script too

rows=${BENCH_ROWS:-1000000}
runs=${BENCH_RUNS:-1}
port_a=${BENCH_PORT_A:-25710}
port_b=${BENCH_PORT_B:-25711}
if [[ $rows =~ ^[0-9]+$ && $rows -lt 100000 ]]; then lat_default=5; else lat_default=20; fi
lat_secs=${BENCH_LATENCY_SECONDS:-$lat_default}
lat_tps=${BENCH_LATENCY_TPS:-2000}
phase_timeout=${BENCH_TIMEOUT:-3600}
fetch_wait=${BENCH_FETCH_WAIT_MS:-10}
transport=${BENCH_TRANSPORT:-unix}
kafka_port=${BENCH_KAFKA_PORT:-25720}
connect_port=${BENCH_CONNECT_PORT:-25810}
repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${BENCH_KAFKA:-} ]]; then
	# real where Java and Maven are, or can be installed (test/install-deps)
	if { command -v java && command -v mvn; } >/dev/null || [[ $EUID -eq 0 ]]; then kafka=real; else kafka=mock; fi
else
	kafka=$BENCH_KAFKA
fi
if [[ $kafka == real ]]; then
	read -r -a methods <<<"${BENCH_METHODS:-walbridge native debezium}"
else
	read -r -a methods <<<"${BENCH_METHODS:-walbridge native}"
fi

die() { echo "bench/sync.sh: $*" >&2; exit 1; }
log() { echo "bench/sync.sh: $*" >&2; }

[[ $rows =~ ^[0-9]+$ && $rows -ge 1000 ]] || die "BENCH_ROWS must be an integer >= 1000"
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 ]] || die "BENCH_RUNS must be a positive integer"
for p in "$port_a" "$port_b"; do
	[[ $p =~ ^[0-9]+$ && $p -ge 1024 && $p -lt 32768 ]] ||
		die "BENCH_PORT_A and BENCH_PORT_B must be between 1024 and 32767"
done
[[ $port_a -ne $port_b ]] || die "BENCH_PORT_A and BENCH_PORT_B must differ"
[[ $lat_secs =~ ^[0-9]+$ && $lat_secs -ge 1 ]] || die "BENCH_LATENCY_SECONDS must be a positive integer"
[[ $lat_tps =~ ^[0-9]+$ && $lat_tps -ge 1 ]] || die "BENCH_LATENCY_TPS must be a positive integer"
[[ $phase_timeout =~ ^[0-9]+$ && $phase_timeout -ge 10 ]] || die "BENCH_TIMEOUT must be an integer >= 10"
[[ $fetch_wait =~ ^[0-9]+$ ]] || die "BENCH_FETCH_WAIT_MS must be an integer"
[[ $transport == unix || $transport == tcp ]] || die "BENCH_TRANSPORT must be unix or tcp"
[[ $kafka == real || $kafka == mock ]] || die "BENCH_KAFKA must be real or mock"
for p in "$kafka_port" "$((kafka_port + 1))" "$connect_port"; do
	[[ $p =~ ^[0-9]+$ && $p -ge 1024 && $p -lt 32768 ]] ||
		die "BENCH_KAFKA_PORT (and the next port) and BENCH_CONNECT_PORT must be between 1024 and 32767"
done
[[ ${#methods[@]} -ge 1 ]] || die "BENCH_METHODS names no method"
for m in "${methods[@]}"; do
	case $m in
	walbridge | native) ;;
	debezium) [[ $kafka == real ]] || die "debezium needs a real broker (BENCH_KAFKA=real)" ;;
	*) die "unknown method $m in BENCH_METHODS (walbridge, native, debezium)" ;;
	esac
done
has_method() { [[ " ${methods[*]} " == *" $1 "* ]]; }

# ---------------------------------------------------------------------------
# Build, servers, broker
# ---------------------------------------------------------------------------

# shellcheck source-path=SCRIPTDIR/.. source=test/servers.sh
source "$repo/test/servers.sh"
install_walbridge "$repo"
[[ $kafka == mock ]] || "$repo/test/install-deps" kafka
walbridged=$pg_bindir/walbridged
broker_bin=$repo/test/broker/mock_broker
for f in "$walbridged" "$broker_bin" "$pg_bindir/pgbench"; do
	[[ -x $f ]] || die "$f not found"
done
export PGTZ=UTC				# the same row text on both sides, for the checksums

wbd_a_pid=
wbd_b_pid=
broker_pid=
connect_bin=$repo/bench/debezium/connect

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $wbd_a_pid ]]; then kill -KILL "$wbd_a_pid" 2>/dev/null || true; fi
	if [[ -n $wbd_b_pid ]]; then kill -KILL "$wbd_b_pid" 2>/dev/null || true; fi
	# Kafka Connect and the real broker by their PID files (they live in
	# $work, which servers_cleanup removes)
	if [[ -n ${work:-} && -d $work/connect ]]; then "$connect_bin" stop "$work/connect" 20 || true; fi
	if [[ -n ${work:-} && -d $work/kafka ]]; then "$repo/test/kafka/broker" stop "$work/kafka" 20 || true; fi
	if [[ $kafka == mock && -n $broker_pid ]]; then kill -TERM "$broker_pid" 2>/dev/null || true; fi
	if [[ $rc -ne 0 && -n ${work:-} && -d $work ]]; then
		local keep
		keep=$(mktemp -d /tmp/walbridge-sync-logs.XXXXXX)
		# everything but the broker's data
		tar -C "$work" --exclude=./kafka/data -cf - . | tar -C "$keep" -xf - || true
		cp "$servers_root"/a/server.log "$keep/server_a.log" 2>/dev/null || true
		cp "$servers_root"/b/server.log "$keep/server_b.log" 2>/dev/null || true
		echo "bench/sync.sh: logs kept in $keep" >&2
	fi
	servers_cleanup
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

conf=("autovacuum = off" "fsync = off" "max_wal_size = 4GB" "shared_buffers = 256MB")
server_start a "$port_a" "${conf[@]}"
server_start b "$port_b" "${conf[@]}"
work=$servers_root/sync
mkdir -p "$work"
chmod 755 "$work"
hz=$(getconf CLK_TCK)

# pg_host NODE: the libpq host setting both methods use to reach server NODE.
pg_host() {
	if [[ $transport == unix ]]; then echo "host=$servers_root/$1"; else echo "host=127.0.0.1"; fi
}

# sql NODE DB [psql args...]
sql() {
	local node=$1 db=$2
	shift 2
	server_psql "$node" -At -d "$db" "$@"
}

if [[ $kafka == real ]]; then
	# Kafka's own bin/kafka-server-start.sh's JVM options, a 1 GB heap as
	# there; the test default (C1 only, serial GC) would slow the broker
	export WALBRIDGE_KAFKA_HEAP=1g
	export WALBRIDGE_KAFKA_JVM_OPTS="-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15"
	bootstraps=$("$repo/test/kafka/broker" start "$work/kafka" "$kafka_port" "$((kafka_port + 1))")
	read -r broker_pid <"$work/kafka/kafka.pid"
	"$repo/test/kafka/broker" admin "$bootstraps" create walbridge.a walbridge.b dbz.a >/dev/null
	has_method debezium && "$connect_bin" resolve >/dev/null
else
	"$broker_bin" 1 walbridge.a walbridge.b >"$work/broker.out" 2>"$work/broker.err" </dev/null &
	broker_pid=$!
	for _ in $(seq 100); do
		[[ -s $work/broker.out ]] && break
		sleep 0.1
	done
	bootstraps=$(head -n 1 "$work/broker.out")
	[[ -n $bootstraps ]] || die "mock broker did not start: $(cat "$work/broker.err")"
fi

# A psql session to B kept open for polling: no new connection per query.
# poll_db DB switches its database; poll_query sets REPLY.
coproc POLL { server_psql b -At 2>&1; }
poll_db() {
	printf '\\c %s\n' "$1" >&"${POLL[1]}"
}
poll_query() {
	printf '%s;\n' "$1" >&"${POLL[1]}"
	IFS= read -r -t 60 -u "${POLL[0]}" REPLY || die "the polling session did not answer"
}

# ---------------------------------------------------------------------------
# Schema: "postgres" for walbridge, "native" for the subscription
# ---------------------------------------------------------------------------

log "walbridge $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '(no git)'), PostgreSQL $(sql a postgres -c 'SHOW server_version'): A on 127.0.0.1:$port_a, B on 127.0.0.1:$port_b, $kafka broker $bootstraps"
log "methods: ${methods[*]}; $rows rows ($((3 * rows)) changes), $runs run(s), latency test ${lat_secs} s at $lat_tps tps, transport $transport$([[ $kafka == mock ]] && echo ", B's fetch.wait.max.ms $fetch_wait")"

body_bytes=${BENCH_BODY_BYTES:-0}
body_col="" body_expr="" body_storage="" full_rows_sql=""
if (( body_bytes > 0 )); then
	body_col=", e text"
	body_expr=", repeat(md5(g::text), $(( (body_bytes + 31) / 32 )))"
	body_storage="ALTER TABLE bench ALTER e SET STORAGE EXTERNAL;"
fi
[[ ${BENCH_FULL_ROWS:-off} == on ]] && full_rows_sql="ALTER TABLE bench REPLICA IDENTITY FULL;"
(( body_bytes > 0 )) && log "bench rows carry $body_bytes bytes out of line (column e), left alone by the updates"
[[ -n $full_rows_sql ]] && log "A's bench table has REPLICA IDENTITY FULL"

tables_sql="
CREATE TABLE bench (id int PRIMARY KEY, a int, b text, c timestamptz, d numeric$body_col);
$body_storage
CREATE TABLE lat (id bigserial PRIMARY KEY, t0 timestamptz NOT NULL DEFAULT clock_timestamp(), arrived timestamptz);
CREATE TABLE mark (id int PRIMARY KEY, arrived timestamptz);
"
workload_sql="
$full_rows_sql
CREATE PROCEDURE bench_insert(n int) LANGUAGE plpgsql AS \$\$
DECLARE lo int;
BEGIN
	FOR lo IN 1..n BY 1000 LOOP
		INSERT INTO bench
			SELECT g, g % 1000, md5(g::text), now(), g * 1.5$body_expr
			FROM generate_series(lo, least(lo + 999, n)) g;
		COMMIT;
	END LOOP;
END \$\$;
CREATE PROCEDURE bench_update(n int) LANGUAGE plpgsql AS \$\$
DECLARE lo int;
BEGIN
	FOR lo IN 1..n BY 1000 LOOP
		UPDATE bench SET a = a + 1, b = b || 'x', c = c + interval '1 s', d = d + 1
			WHERE id BETWEEN lo AND lo + 999;
		COMMIT;
	END LOOP;
END \$\$;
CREATE PROCEDURE bench_delete(n int) LANGUAGE plpgsql AS \$\$
DECLARE lo int;
BEGIN
	FOR lo IN 1..n BY 1000 LOOP
		DELETE FROM bench WHERE id BETWEEN lo AND lo + 999;
		COMMIT;
	END LOOP;
END \$\$;
"
arrival_sql="
CREATE FUNCTION arrival() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	NEW.arrived := clock_timestamp();
	RETURN NEW;
END \$\$;
CREATE TRIGGER lat_arrival BEFORE INSERT ON lat FOR EACH ROW EXECUTE FUNCTION arrival();
CREATE TRIGGER mark_arrival BEFORE INSERT ON mark FOR EACH ROW EXECUTE FUNCTION arrival();
ALTER TABLE lat ENABLE ALWAYS TRIGGER lat_arrival;
ALTER TABLE mark ENABLE ALWAYS TRIGGER mark_arrival;
"

sql a postgres -c "CREATE DATABASE native"
sql b postgres -c "CREATE DATABASE native"
if has_method debezium; then
	sql a postgres -c "CREATE DATABASE debezium"
	sql b postgres -c "CREATE DATABASE debezium"
fi

# walbridge
sql a postgres <<EOF
CREATE EXTENSION walbridge;
$tables_sql
$workload_sql
SELECT FROM walbridge.create_node('a');
SELECT FROM walbridge.start_sync('{}');
EOF
sql b postgres <<EOF
CREATE EXTENSION walbridge;
$tables_sql
$arrival_sql
SELECT FROM walbridge.create_node('b');
SELECT FROM walbridge.start_sync('{a}', full_rows => false);
EOF

# native logical replication
sql a native <<EOF
$tables_sql
$workload_sql
CREATE PUBLICATION bench_pub FOR TABLE bench, lat, mark;
EOF
sql b native <<EOF
$tables_sql
$arrival_sql
CREATE SUBSCRIPTION bench_sub
	CONNECTION '$(pg_host a) port=$port_a user=postgres dbname=native'
	PUBLICATION bench_pub;
EOF
for _ in $(seq 600); do
	[[ $(sql b native -c "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'") == 0 ]] && break
	sleep 0.1
done
[[ $(sql b native -c "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'") == 0 ]] ||
	die "the subscription's tables did not reach the ready state"
sql b native -c "ALTER SUBSCRIPTION bench_sub DISABLE"

# Debezium: the tables on both sides; the source connector makes its own
# publication and slot on A when it first starts.
if has_method debezium; then
	sql a debezium <<EOF
$tables_sql
$workload_sql
EOF
	sql b debezium <<EOF
$tables_sql
$arrival_sql
EOF
	mkdir -p "$work/connect"
	# The source: A's three tables, through pgoutput, into one topic.
	cat >"$work/connect/debezium_source.properties" <<EOF
name=debezium_source
connector.class=io.debezium.connector.postgresql.PostgresConnector
tasks.max=1
plugin.name=pgoutput
database.hostname=127.0.0.1
database.port=$port_a
database.user=postgres
database.password=
database.dbname=debezium
topic.prefix=dbz
table.include.list=public.bench,public.lat,public.mark
slot.name=debezium
publication.name=debezium
publication.autocreate.mode=filtered
topic.creation.default.partitions=1
topic.creation.default.replication.factor=1
# one topic for the three tables: commit order across them (see the header)
transforms=one_topic
transforms.one_topic.type=org.apache.kafka.connect.transforms.RegexRouter
transforms.one_topic.regex=dbz[.]public[.].*
transforms.one_topic.replacement=dbz.a
EOF
	# The sink: that topic into B, upsert by primary key, deletes applied.
	cat >"$work/connect/debezium_sink.properties" <<EOF
name=debezium_sink
connector.class=io.debezium.connector.jdbc.JdbcSinkConnector
tasks.max=1
topics=dbz.a
connection.url=jdbc:postgresql://127.0.0.1:$port_b/debezium
connection.username=postgres
connection.password=
insert.mode=upsert
primary.key.mode=record_key
delete.enabled=true
schema.evolution=none
collection.name.format=\${source.table}
EOF
fi

# ---------------------------------------------------------------------------
# Starting and stopping each method
# ---------------------------------------------------------------------------

# wbd_start NODE: walbridged for node a or b, in the background.
wbd_start() {
	local node=$1 port cfg=$work/wbd_$1.conf pid
	if [[ $node == a ]]; then port=$port_a; else port=$port_b; fi
	{
		echo "create_topics = off"
		echo "replication_factor = 1"
		if [[ $node == b && $kafka == mock ]]; then
			# prefetch: the mock broker keeps only ~5 MiB (see the header)
			echo "kafka.queued.max.messages.kbytes = 2097151"
			echo "kafka.queued.min.messages = 10000000"
			# the mock holds an empty fetch for all of it (see the header)
			echo "kafka.fetch.wait.max.ms = $fetch_wait"
		elif [[ $node == b && -n ${BENCH_FETCH_WAIT_MS:-} ]]; then
			echo "kafka.fetch.wait.max.ms = $fetch_wait"
		fi
	} >"$cfg"
	"$walbridged" -d "$(pg_host "$node") port=$port user=postgres dbname=postgres" -b "$bootstraps" \
		-c "$cfg" >>"$work/wbd_$node.log" 2>&1 &
	pid=$!
	if [[ $node == a ]]; then wbd_a_pid=$pid; else wbd_b_pid=$pid; fi
}

# wbd_stop NODE: SIGTERM, wait; it must exit 0.
wbd_stop() {
	local node=$1 pid status=0
	if [[ $node == a ]]; then pid=$wbd_a_pid; wbd_a_pid=; else pid=$wbd_b_pid; wbd_b_pid=; fi
	kill -TERM "$pid"
	wait "$pid" || status=$?
	[[ $status -eq 0 ]] || die "walbridged $node exited with status $status; its log: $work/wbd_$node.log"
}

wbd_check() {
	local node
	for node in a b; do
		local pid=$wbd_a_pid
		[[ $node == b ]] && pid=$wbd_b_pid
		kill -0 "$pid" 2>/dev/null || die "walbridged $node exited; its log: $work/wbd_$node.log"
	done
	poll_query "SELECT coalesce((SELECT state || ': ' || coalesce(last_error, '') FROM walbridge.status() WHERE peer = 'a'), 'none')"
	[[ $REPLY != paused* ]] || die "walbridge on B paused applying A: ${REPLY#paused: }"
}

next_mark=0

# roundtrip METHOD: a marker row inserted on A, waited for on B; sets
# arrived (B's clock_timestamp() at its insert, epoch seconds).  The marker
# follows every transaction A committed before it.
roundtrip() {
	local method=$1 db id
	db=$(method_db "$method")
	id=$((++next_mark))
	sql a "$db" -c "INSERT INTO mark (id) VALUES ($id)"
	wait_mark "$method" "$id"
}

# wait_mark METHOD ID: wait for marker ID on B; sets arrived.
wait_mark() {
	local method=$1 id=$2 db deadline n=0
	db=$(method_db "$method")
	poll_db "$db"
	deadline=$((${EPOCHREALTIME%.*} + phase_timeout))
	while :; do
		poll_query "SELECT coalesce((SELECT extract(epoch FROM arrived) FROM mark WHERE id = $id)::text, '')"
		if [[ -n $REPLY ]]; then
			arrived=$REPLY
			return 0
		fi
		((${EPOCHREALTIME%.*} < deadline)) || die "$method: marker $id did not reach B within $phase_timeout s"
		if ((++n % 40 == 0)); then
			if [[ $method == walbridge ]]; then
				wbd_check
				poll_db "$db"
			elif [[ $method == debezium ]]; then
				connect_check
			fi
		fi
		sleep 0.05
	done
}

method_db() {
	case $1 in
	walbridge) echo postgres ;;
	*) echo "$1" ;;
	esac
}

# connect_check: the worker runs and no connector or task failed.
connect_check() {
	local c states
	connect_pid >/dev/null || die "Kafka Connect exited; its log: $work/connect/connect.log"
	for c in debezium_source debezium_sink; do
		states=$("$connect_bin" status "$work/connect" "$c" 2>/dev/null || true)
		[[ $states != *FAILED* ]] || die "Debezium's $c failed; Kafka Connect's log: $work/connect/connect.log"
	done
}

connect_pid() {
	local pid
	[[ -s $work/connect/connect.pid ]] || return 1
	read -r pid <"$work/connect/connect.pid"
	[[ -r /proc/$pid/stat ]] || return 1
	echo "$pid"
}

method_up() {
	case $1 in
	walbridge)
		wbd_start a
		wbd_start b
		;;
	native)
		sql b native -c "ALTER SUBSCRIPTION bench_sub ENABLE"
		;;
	debezium)
		"$connect_bin" start "$work/connect" "$bootstraps" "$connect_port" \
			"$work/connect/debezium_source.properties" "$work/connect/debezium_sink.properties"
		# the source streams once its slot is in use (the first start
		# creates it; a marker written before would be missed)
		for _ in $(seq 600); do
			[[ -n $(sql a debezium -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'debezium' AND active") ]] && break
			sleep 0.1
		done
		[[ -n $(sql a debezium -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'debezium' AND active") ]] ||
			die "Debezium's slot on A is not in use; Kafka Connect's log: $work/connect/connect.log"
		;;
	esac
	roundtrip "$1"
}

method_down() {
	if [[ $1 == walbridge ]]; then
		wbd_stop a
		wbd_stop b
	elif [[ $1 == debezium ]]; then
		"$connect_bin" stop "$work/connect" 60
		for _ in $(seq 200); do
			[[ -z $(sql a debezium -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'debezium' AND active") ]] &&
				return 0
			sleep 0.05
		done
		die "Debezium's slot on A is still in use after Kafka Connect stopped"
	else
		sql b native -c "ALTER SUBSCRIPTION bench_sub DISABLE"
		for _ in $(seq 200); do
			[[ -z $(sql b native -c "SELECT pid FROM pg_stat_subscription WHERE subname = 'bench_sub' AND pid IS NOT NULL") &&
				-z $(sql a native -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'bench_sub' AND active") ]] &&
				return 0
			sleep 0.05
		done
		die "the subscription's workers did not stop"
	fi
}

# The processes of a method, as "label:pid" words, for CPU accounting.
method_pids() {
	local out=()
	if [[ $1 == walbridge ]]; then
		out+=("A-walsender:$(sql a postgres -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'walbridge_a'")")
		out+=("walbridged-A:$wbd_a_pid" "broker:$broker_pid" "walbridged-B:$wbd_b_pid")
		out+=("B-apply-backend:$(sql b postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'walbridged apply' LIMIT 1")")
		out+=("B-walsender:$(sql b postgres -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'walbridge_b'")")
	elif [[ $1 == debezium ]]; then
		out+=("A-walsender:$(sql a debezium -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'debezium'")")
		out+=("broker:$broker_pid" "connect:$(connect_pid)")
		out+=("B-sink-backend:$(sql b debezium -c "SELECT pid FROM pg_stat_activity WHERE datname = 'debezium' AND application_name = 'PostgreSQL JDBC Driver' LIMIT 1")")
	else
		out+=("A-walsender:$(sql a native -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'bench_sub'")")
		out+=("B-apply-worker:$(sql b native -c "SELECT pid FROM pg_stat_subscription WHERE subname = 'bench_sub' AND relid IS NULL")")
	fi
	echo "${out[*]}"
}

# ticks PID: user+sys clock ticks of a running process (0 if gone).
ticks() {
	local stat
	[[ -n $1 && -r /proc/$1/stat ]] || { echo 0; return 0; }
	read -r stat <"/proc/$1/stat" || { echo 0; return 0; }
	stat=${stat##*) }
	read -r -a stat <<<"$stat"
	echo $((stat[11] + stat[12]))
}

# rss_reset PID: start PID's peak RSS (VmHWM) afresh, where the kernel
# lets us (root, or the process's owner).
rss_reset() {
	{ [[ -n $1 && -w /proc/$1/clear_refs ]] && echo 5 >"/proc/$1/clear_refs"; } 2>/dev/null || true
}

# rss_peak PID: its peak RSS in MB (empty if gone).
rss_peak() {
	[[ -n $1 && -r /proc/$1/status ]] || return 0
	awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || true
}

# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------

# checksum NODE DB [loose]: count and sum of row hashes of bench; loose:
# with d's trailing zeros cut (Debezium's way with numeric, see the header)
checksum() {
	local row="t::text"
	[[ ${3:-} == loose ]] && row="(t.id, t.a, t.b, t.c, trim_scale(t.d))::text"
	sql "$1" "$2" -c "SELECT count(*) || ' rows, hash ' || coalesce(sum(hashtext($row)), 0) FROM bench t"
}

fmt() { awk -v x="$1" 'BEGIN { printf "%.3f", x }'; }

declare -A res=()			# res[method,phase] = "seconds seconds ..."
declare -A lat_med=() lat_p99=() lat_max=() lat_tps_got=() lat_b_tps=()
declare -A cpu_sum=() rss_sum=()	# per method, summed over its processes (last run)
cpu_report=()

# throughput RUN METHOD
throughput() {
	local run=$1 method=$2 db phase out start a_end id total=0 pids p label pid
	local -A t0=()
	db=$(method_db "$method")
	sql a "$db" -c "VACUUM ANALYZE bench" -c "CHECKPOINT"
	sql b "$db" -c "VACUUM ANALYZE bench" -c "CHECKPOINT"
	pids=$(method_pids "$method")
	cpu_sum[$method]=0
	rss_sum[$method]=0
	for p in $pids; do
		t0[$p]=$(ticks "${p#*:}")
		rss_reset "${p#*:}"
	done
	for phase in insert update delete; do
		id=$((++next_mark))
		out=$(sql a "$db" -c "SELECT extract(epoch FROM clock_timestamp())" -c "CALL bench_$phase($rows)" \
			-c "SELECT extract(epoch FROM clock_timestamp())" -c "INSERT INTO mark (id) VALUES ($id)")
		{ read -r start; read -r a_end; } <<<"$out"
		wait_mark "$method" "$id"
		local secs write catchup
		secs=$(fmt "$(awk -v a="$start" -v b="$arrived" 'BEGIN { print b - a }')")
		write=$(fmt "$(awk -v a="$start" -v b="$a_end" 'BEGIN { print b - a }')")
		catchup=$(fmt "$(awk -v a="$a_end" -v b="$arrived" 'BEGIN { print b - a }')")
		total=$(awk -v a="$total" -v b="$secs" 'BEGIN { print a + b }')
		res[$method,$phase]+="$secs "
		printf '%-4s %-10s %-7s %9s %10s %9s %10.0f\n' "$run" "$method" "$phase" "$write" "$catchup" "$secs" \
			"$(awk -v n="$rows" -v s="$secs" 'BEGIN { print n / s }')"
		local ca cb tries=0 mode=
		# Debezium's numeric loses its trailing zeros: compared without them
		[[ $method == debezium ]] && mode=loose
		ca=$(checksum a "$db" $mode)
		cb=$(checksum b "$db" $mode)
		# Debezium's sink may write a batch's marker before the batch's
		# other rows (see the header): wait for them, untimed, and say so
		while [[ $method == debezium && $ca != "$cb" && $tries -lt 300 ]]; do
			sleep 0.1
			((++tries))
			cb=$(checksum b "$db" $mode)
		done
		((tries == 0)) || log "$method, after $phase: B had the marker $(awk -v t="$tries" 'BEGIN { printf "%.1f", t / 10 }') s before the rows committed before it"
		if [[ $method == debezium && $phase == insert && $ca == "$cb" ]]; then
			[[ $(checksum a "$db") == "$(checksum b "$db")" ]] ||
				log "debezium: B's rows equal A's but for numeric's scale (A's 3.0 is B's 3)"
		fi
		if [[ $ca != "$cb" ]]; then
			log "the first rows on A: $(sql a "$db" -c "SELECT t::text FROM bench t ORDER BY id LIMIT 2" | tr '\n' ' ')"
			log "the first rows on B: $(sql b "$db" -c "SELECT t::text FROM bench t ORDER BY id LIMIT 2" | tr '\n' ' ')"
			die "$method, after $phase: B has $cb, A has $ca"
		fi
	done
	res[$method,total]+="$total "
	printf '%-4s %-10s %-7s %9s %10s %9s %10.0f  (changes/s)\n' "$run" "$method" "total" "" "" "$(fmt "$total")" \
		"$(awk -v n="$rows" -v s="$total" 'BEGIN { print 3 * n / s }')"
	local line="run $run $method (cpu-s/peak-rss-MB):" c r
	for p in $pids; do
		label=${p%%:*}
		pid=${p#*:}
		if [[ -n $pid && -r /proc/$pid/stat ]]; then
			c=$(awk -v a="${t0[$p]}" -v b="$(ticks "$pid")" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz }')
			r=$(rss_peak "$pid")
			line+=" $label $c/$r"
			cpu_sum[$method]=$(awk -v a="${cpu_sum[$method]:-0}" -v b="$c" 'BEGIN { print a + b }')
			rss_sum[$method]=$(awk -v a="${rss_sum[$method]:-0}" -v b="${r:-0}" 'BEGIN { print a + b }')
		else
			line+=" $label (pid ${pid:-none} gone)"
		fi
	done
	line+="; all: $(fmt "${cpu_sum[$method]:-0}") cpu-s, $(awk -v x="${rss_sum[$method]:-0}" 'BEGIN { printf "%.0f", x }') MB"
	cpu_report+=("$line")
}

# latency RUN METHOD: pgbench on A at lat_tps for lat_secs; B's arrival
# minus A's commit time, per row.
latency() {
	local run=$1 method=$2 db base stats tps n med p99 max
	db=$(method_db "$method")
	base=$(sql a "$db" -c "SELECT coalesce(max(id), 0) FROM lat")
	echo "INSERT INTO lat (t0) VALUES (clock_timestamp());" >"$work/lat.sql"
	"$pg_bindir/pgbench" -n -h 127.0.0.1 -p "$port_a" -U postgres -c 8 -j 2 -R "$lat_tps" -T "$lat_secs" \
		-f "$work/lat.sql" "$db" >"$work/pgbench_${method}_$run.out" 2>&1 ||
		die "pgbench failed: $(tail -n 5 "$work/pgbench_${method}_$run.out")"
	tps=$(awk '/^tps = / { printf "%.0f", $3 }' "$work/pgbench_${method}_$run.out")
	roundtrip "$method"
	stats=$(sql a "$db" -c "\\copy (SELECT id, pg_xact_commit_timestamp(xmin) FROM lat WHERE id > $base) TO STDOUT" |
		sql b "$db" -F ' ' \
			-c "CREATE TEMP TABLE a_commit (id bigint, committed timestamptz)" \
			-c "\\copy a_commit FROM pstdin" \
			-c "SELECT count(*), count(l.id),
					round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
					round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
					round(max(ms)::numeric, 2),
				round(count(l.id) / nullif(extract(epoch FROM max(l.arrived) - min(l.arrived)), 0))
				FROM a_commit a LEFT JOIN lat l USING (id),
					LATERAL (SELECT extract(epoch FROM l.arrived - a.committed) * 1000 AS ms) x")
	local sent got b_tps note=
	read -r sent got med p99 max b_tps <<<"$stats"
	[[ $sent -gt 0 && $sent -eq $got ]] || die "$method latency: $got of $sent rows arrived on B"
	lat_med[$method]+="$med "
	lat_p99[$method]+="$p99 "
	lat_max[$method]+="$max "
	lat_tps_got[$method]+="$tps "
	lat_b_tps[$method]+="$b_tps "
	((b_tps * 100 >= tps * 95)) || note="  B fell behind: queueing"
	lat_lines+=("$(printf '%-4s %-10s %8s %8s %8s %10s %9s %9s%s' "$run" "$method" "$sent" "$tps" "$b_tps" "$med" "$p99" "$max" "$note")")
}

# median VALUES...: the middle value (mean of the two middle ones if even).
median() {
	printf '%s\n' "$@" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

log "the methods are measured one after the other; each is stopped while the others run"
lat_lines=()
echo
printf '%-4s %-10s %-7s %9s %10s %9s %10s\n' run method phase write-s catchup-s total-s rows/s
for ((run = 1; run <= runs; run++)); do
	# the order rotates: each method is first in some run
	n=${#methods[@]}
	order=()
	for ((i = 0; i < n; i++)); do order+=("${methods[$(((i + run - 1) % n))]}"); done
	for m in "${order[@]}"; do
		method_up "$m"
		throughput "$run" "$m"
		latency "$run" "$m"
		method_down "$m"
	done
done

echo
echo "latency at $lat_tps tps for $lat_secs s (pgbench, 8 clients, one row per transaction):"
echo "B's arrival (trigger) minus A's commit time, ms; tps: A's (pgbench), B-tps: B's apply rate"
printf '%-4s %-10s %8s %8s %8s %10s %9s %9s\n' run method rows tps B-tps median p99 max
printf '%s\n' "${lat_lines[@]}"
echo
echo "cpu seconds (user+sys) and peak RSS (MB) of each process during the three throughput phases:"
printf '%s\n' "${cpu_report[@]}"

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

echo
echo "$rows rows inserted, updated, deleted on A, 1,000 per transaction; time from the start"
echo "of each phase on A until B had all of it; median of $runs run(s)."
echo "The machine is shared and noisy: read the medians and ratios, not absolute times."
echo
# the table: each method's seconds and rows/s, then walbridge's speed
# over each other method's (> 1: walbridge faster)
others=()
for m in "${methods[@]}"; do [[ $m == walbridge ]] || others+=("$m"); done
header=$(printf '%-8s' phase)
for m in "${methods[@]}"; do header+=$(printf ' %12s %12s' "$m-s" "$m-rows/s"); done
if has_method walbridge; then
	for m in "${others[@]}"; do header+=$(printf ' %12s' "wb/$m"); done
fi
echo "$header"
declare -A med=()
for phase in insert update delete total; do
	mult=1
	[[ $phase == total ]] && mult=3
	line=$(printf '%-8s' "$phase")
	for m in "${methods[@]}"; do
		# shellcheck disable=SC2086
		med[$m]=$(median ${res[$m,$phase]})
		line+=$(awk -v s="${med[$m]}" -v r="$rows" -v k="$mult" 'BEGIN { printf " %12.3f %12.0f", s, k * r / s }')
	done
	if has_method walbridge; then
		for m in "${others[@]}"; do
			line+=$(awk -v w="${med[walbridge]}" -v o="${med[$m]}" 'BEGIN { printf " %12.3f", o / w }')
		done
	fi
	echo "$line"
done
echo "(total: changes/s, 3 changes per row; wb/X = walbridge rows/s / X's rows/s)"
echo
printf '%-10s %8s %8s %10s %10s %10s %10s %12s\n' method tps B-tps median-ms p99-ms max-ms cpu-s peak-rss-MB
for m in "${methods[@]}"; do
	# shellcheck disable=SC2086
	printf '%-10s %8s %8s %10s %10s %10s %10s %12s\n' "$m" "$(median ${lat_tps_got[$m]})" "$(median ${lat_b_tps[$m]})" \
		"$(median ${lat_med[$m]})" "$(median ${lat_p99[$m]})" "$(median ${lat_max[$m]})" \
		"$(fmt "${cpu_sum[$m]:-0}")" "$(awk -v x="${rss_sum[$m]:-0}" 'BEGIN { printf "%.0f", x }')"
done
echo "(latency at $lat_tps tps, medians over runs; cpu-s and peak RSS: all of the method's processes"
echo "listed above during the throughput phases, the last run; the broker counts for walbridge and debezium)"
if has_method walbridge; then
	echo
	for m in "${others[@]}"; do
		# shellcheck disable=SC2086
		awk -v m="$m" -v wm="$(median ${lat_med[walbridge]})" -v om="$(median ${lat_med[$m]})" \
			-v wp="$(median ${lat_p99[walbridge]})" -v op="$(median ${lat_p99[$m]})" \
			-v wt="$(median ${res[walbridge,total]})" -v ot="$(median ${res[$m,total]})" \
			-v wc="${cpu_sum[walbridge]:-0}" -v oc="${cpu_sum[$m]:-0}" \
			-v wr="${rss_sum[walbridge]:-0}" -v or="${rss_sum[$m]:-0}" 'BEGIN {
			printf "walbridge / %s: throughput x%.3f (total), latency median x%.2f, p99 x%.2f, cpu x%.2f, peak rss x%.2f\n",
				m, ot / wt, (om > 0 ? wm / om : 0), (op > 0 ? wp / op : 0), (oc > 0 ? wc / oc : 0), (or > 0 ? wr / or : 0) }'
	done
fi

# What walbridged complained about, if anything (librdkafka's note that a
# consumer setting means nothing to the producer apart).
for node in a b; do
	[[ -f $work/wbd_$node.log ]] || continue
	n=$(grep -v CONFWARN "$work/wbd_$node.log" | grep -c -E '\] (WARNING|ERROR|FATAL)' || true)
	if ((n > 0)); then
		echo
		echo "walbridged $node logged $n warning(s) or error(s), the first ones:"
		grep -v CONFWARN "$work/wbd_$node.log" | grep -E '\] (WARNING|ERROR|FATAL)' | head -n 5 || true
	fi
done
