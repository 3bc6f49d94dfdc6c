#!/bin/bash
#
# bench/sync.sh -- end-to-end one-way sync A -> B: walbridge (walbridged on
# each node, through Kafka) beside PostgreSQL's native logical replication
# (CREATE PUBLICATION / CREATE SUBSCRIPTION), on the same two servers
#
# Usage: bench/sync.sh
#        BENCH_ROWS=20000 bench/sync.sh                 quick check (about a minute)
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
#   BENCH_FETCH_WAIT_MS    fetch.wait.max.ms of B's Kafka consumer (default
#                          10; 500 is librdkafka's default, see below)
#
# What it does:
#   1. installs missing Debian packages (test/install-deps), builds and
#      installs this tree;
#   2. starts two throwaway servers, A and B (test/servers.sh; fsync off
#      and autovacuum off: the disk is not what is measured) and the mock Kafka broker
#      (test/broker/mock_broker) with the topics walbridge.a and walbridge.b;
#   3. two separate pairs of databases with the same tables:
#        bench(id int primary key, a int, b text, c timestamptz, d numeric)
#        lat(id bigserial primary key, t0 timestamptz, arrived timestamptz)
#        mark(id int primary key, arrived timestamptz)
#      - "postgres" on A and B: walbridge.  A is node a (start_sync('{}')),
#        B is node b (start_sync('{a}')), one walbridged per node
#        (create_topics = off, replication_factor = 1);
#      - "native" on A and B: CREATE PUBLICATION bench_pub FOR TABLE bench,
#        lat, mark on A; CREATE SUBSCRIPTION bench_sub on B;
#      On B, a BEFORE INSERT trigger sets lat.arrived and mark.arrived to
#      clock_timestamp() (ENABLE ALWAYS: both methods apply with
#      session_replication_role = replica, where triggers otherwise do not
#      fire);
#   4. per run, the two methods one after the other, never at the same
#      time, the order alternating between runs.  While one is measured the
#      other is stopped: walbridged A and B get SIGTERM, the subscription is
#      disabled.  Before a method is measured, it is started and a marker
#      row's round trip A -> B shows that it is running and caught up;
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
#      row hashes, untimed).  "write" is the time A took to run the phase,
#      "catch-up" the time from its end until B had all of it;
#   6. latency: pgbench on A, -R BENCH_LATENCY_TPS for BENCH_LATENCY_SECONDS
#      (8 clients), each transaction inserting one row into lat.  Latency
#      is the row's arrival on B (the trigger) minus its commit time on A
#      (pg_xact_commit_timestamp(xmin); track_commit_timestamp is on);
#      B's own commit follows the trigger within the same transaction
#      (for walbridge, its origin and progress statements are in the same
#      pipeline as the row; COMMIT is one more round trip);
#   7. prints each measurement, the medians, walbridge / native ratios,
#      and the CPU seconds of each process involved during the throughput
#      phases.
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
repo=$(cd "$(dirname "$0")/.." && pwd)

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

# ---------------------------------------------------------------------------
# Build, servers, broker
# ---------------------------------------------------------------------------

# shellcheck source-path=SCRIPTDIR/.. source=test/servers.sh
source "$repo/test/servers.sh"
install_walbridge "$repo"
walbridged=$pg_bindir/walbridged
broker_bin=$repo/test/broker/mock_broker
for f in "$walbridged" "$broker_bin" "$pg_bindir/pgbench"; do
	[[ -x $f ]] || die "$f not found"
done
export PGTZ=UTC				# the same row text on both sides, for the checksums

wbd_a_pid=
wbd_b_pid=
broker_pid=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $wbd_a_pid ]]; then kill -KILL "$wbd_a_pid" 2>/dev/null || true; fi
	if [[ -n $wbd_b_pid ]]; then kill -KILL "$wbd_b_pid" 2>/dev/null || true; fi
	if [[ -n $broker_pid ]]; then kill -TERM "$broker_pid" 2>/dev/null || true; fi
	if [[ $rc -ne 0 && -n ${work:-} && -d $work ]]; then
		local keep
		keep=$(mktemp -d /tmp/walbridge-sync-logs.XXXXXX)
		cp -r "$work/." "$keep/"
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

"$broker_bin" 1 walbridge.a walbridge.b >"$work/broker.out" 2>"$work/broker.err" </dev/null &
broker_pid=$!
for _ in $(seq 100); do
	[[ -s $work/broker.out ]] && break
	sleep 0.1
done
bootstraps=$(head -n 1 "$work/broker.out")
[[ -n $bootstraps ]] || die "mock broker did not start: $(cat "$work/broker.err")"

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

log "walbridge $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '(no git)'), PostgreSQL $(sql a postgres -c 'SHOW server_version'): A on 127.0.0.1:$port_a, B on 127.0.0.1:$port_b, broker $bootstraps"
log "$rows rows ($((3 * rows)) changes), $runs run(s), latency test ${lat_secs} s at $lat_tps tps, B's fetch.wait.max.ms $fetch_wait, transport $transport"

tables_sql="
CREATE TABLE bench (id int PRIMARY KEY, a int, b text, c timestamptz, d numeric);
CREATE TABLE lat (id bigserial PRIMARY KEY, t0 timestamptz NOT NULL DEFAULT clock_timestamp(), arrived timestamptz);
CREATE TABLE mark (id int PRIMARY KEY, arrived timestamptz);
"
workload_sql="
CREATE PROCEDURE bench_insert(n int) LANGUAGE plpgsql AS \$\$
DECLARE lo int;
BEGIN
	FOR lo IN 1..n BY 1000 LOOP
		INSERT INTO bench
			SELECT g, g % 1000, md5(g::text), now(), g * 1.5
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
SELECT FROM walbridge.start_sync('{a}');
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
		if [[ $node == b ]]; then
			# prefetch: the mock broker keeps only ~5 MiB (see the header)
			echo "kafka.queued.max.messages.kbytes = 2097151"
			echo "kafka.queued.min.messages = 10000000"
			# the mock holds an empty fetch for all of it (see the header)
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
		if [[ $method == walbridge ]] && ((++n % 40 == 0)); then
			wbd_check
			poll_db "$db"
		fi
		sleep 0.05
	done
}

method_db() {
	if [[ $1 == walbridge ]]; then echo postgres; else echo native; fi
}

method_up() {
	if [[ $1 == walbridge ]]; then
		wbd_start a
		wbd_start b
	else
		sql b native -c "ALTER SUBSCRIPTION bench_sub ENABLE"
	fi
	roundtrip "$1"
}

method_down() {
	if [[ $1 == walbridge ]]; then
		wbd_stop a
		wbd_stop b
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

# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------

checksum() {
	sql "$1" "$2" -c "SELECT count(*) || ' rows, hash ' || coalesce(sum(hashtext(t::text)), 0) FROM bench t"
}

fmt() { awk -v x="$1" 'BEGIN { printf "%.3f", x }'; }

declare -A res=()			# res[method,phase] = "seconds seconds ..."
declare -A lat_med=() lat_p99=() lat_max=() lat_tps_got=() lat_b_tps=()
cpu_report=()

# throughput RUN METHOD
throughput() {
	local run=$1 method=$2 db phase out start a_end id total=0 pids p label pid
	local -A t0=()
	db=$(method_db "$method")
	sql a "$db" -c "VACUUM ANALYZE bench" -c "CHECKPOINT"
	sql b "$db" -c "VACUUM ANALYZE bench" -c "CHECKPOINT"
	pids=$(method_pids "$method")
	for p in $pids; do t0[$p]=$(ticks "${p#*:}"); done
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
		local ca cb
		ca=$(checksum a "$db")
		cb=$(checksum b "$db")
		[[ $ca == "$cb" ]] || die "$method, after $phase: B has $cb, A has $ca"
	done
	res[$method,total]+="$total "
	printf '%-4s %-10s %-7s %9s %10s %9s %10.0f  (changes/s)\n' "$run" "$method" "total" "" "" "$(fmt "$total")" \
		"$(awk -v n="$rows" -v s="$total" 'BEGIN { print 3 * n / s }')"
	local line="run $run $method cpu-s:"
	for p in $pids; do
		label=${p%%:*}
		pid=${p#*:}
		if [[ -n $pid && -r /proc/$pid/stat ]]; then
			line+=" $label $(awk -v a="${t0[$p]}" -v b="$(ticks "$pid")" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz }')"
		else
			line+=" $label (pid ${pid:-none} gone)"
		fi
	done
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

log "the methods are measured one after the other; each is stopped while the other runs"
lat_lines=()
echo
printf '%-4s %-10s %-7s %9s %10s %9s %10s\n' run method phase write-s catchup-s total-s rows/s
for ((run = 1; run <= runs; run++)); do
	if ((run % 2)); then order=(native walbridge); else order=(walbridge native); fi
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
echo "cpu seconds (user+sys) of each process during the three throughput phases:"
printf '%s\n' "${cpu_report[@]}"

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

echo
echo "$rows rows inserted, updated, deleted on A, 1,000 per transaction; time from the start"
echo "of each phase on A until B had all of it; median of $runs run(s)."
echo "The machine is shared and noisy: read the medians and ratios, not absolute times."
echo
printf '%-8s %12s %12s %14s %14s %10s\n' phase walbridge-s native-s walbridge-rows/s native-rows/s ratio
for phase in insert update delete total; do
	# shellcheck disable=SC2086
	w=$(median ${res[walbridge,$phase]})
	# shellcheck disable=SC2086
	n=$(median ${res[native,$phase]})
	mult=1
	[[ $phase == total ]] && mult=3
	awk -v p="$phase" -v w="$w" -v n="$n" -v r="$rows" -v m="$mult" 'BEGIN {
		printf "%-8s %12.3f %12.3f %14.0f %14.0f %10.3f\n", p, w, n, m * r / w, m * r / n, n / w }'
done
echo "(total: changes/s, 3 changes per row; ratio = walbridge rows/s / native rows/s)"
echo
printf '%-10s %8s %8s %10s %10s %10s\n' method tps B-tps median-ms p99-ms max-ms
for m in walbridge native; do
	# shellcheck disable=SC2086
	printf '%-10s %8s %8s %10s %10s %10s\n' "$m" "$(median ${lat_tps_got[$m]})" "$(median ${lat_b_tps[$m]})" \
		"$(median ${lat_med[$m]})" "$(median ${lat_p99[$m]})" "$(median ${lat_max[$m]})"
done
# shellcheck disable=SC2086
awk -v wm="$(median ${lat_med[walbridge]})" -v nm="$(median ${lat_med[native]})" \
	-v wp="$(median ${lat_p99[walbridge]})" -v np="$(median ${lat_p99[native]})" \
	-v wt="$(median ${res[walbridge,total]})" -v nt="$(median ${res[native,total]})" 'BEGIN {
	printf "\nwalbridge / native: throughput x%.3f (total), latency median x%.2f, p99 x%.2f\n",
		nt / wt, wm / nm, wp / np }'

# What walbridged complained about, if anything (librdkafka's note that a
# consumer setting means nothing to the producer apart).
for node in a b; do
	n=$(grep -v CONFWARN "$work/wbd_$node.log" | grep -c -E '\] (WARNING|ERROR|FATAL)' || true)
	if ((n > 0)); then
		echo
		echo "walbridged $node logged $n warning(s) or error(s), the first ones:"
		grep -v CONFWARN "$work/wbd_$node.log" | grep -E '\] (WARNING|ERROR|FATAL)' | head -n 5 || true
	fi
done
