#!/bin/bash
#
# bench/publish.sh -- slot-to-Kafka throughput: walbridged against the
# ceiling, pg_recvlogical draining a walbridge slot to /dev/null
#
# Usage: bench/publish.sh
#        BENCH_ROWS=20000 BENCH_RUNS=1 bench/publish.sh     quick check
#
# Environment:
#   BENCH_ROWS   rows in the workload (default 1000000); changes = 3 x rows
#   BENCH_RUNS   measurements of each kind (default 3); medians are reported
#   BENCH_PORT   loopback TCP port of the temporary server (default 25700, < 32768)
#
# What it does:
#   1. installs missing Debian packages (test/install-deps), builds and
#      installs this tree (walbridge.so, walbridged, test/broker/mock_broker);
#   2. starts a throwaway server (test/servers.sh: as user wbtest when run
#      as root) and the mock Kafka broker (librdkafka's mock cluster, in a
#      process of its own) with the topic walbridge.bench;
#   3. before the workload, per run: a walbridge slot for pg_recvlogical,
#      and a walbridged started once (create_topics = off, snapshot = off,
#      slot_name = wbd_RUN) so it creates its slot and marks the node
#      initialized, then stopped with SIGTERM; plus one slot to count bytes;
#   4. the workload of bench/run: table bench(id int primary key, a int,
#      b text, c timestamptz, d numeric), BENCH_ROWS rows inserted, then all
#      updated, then all deleted, 1,000 rows per transaction (fsync off and
#      autovacuum off while it runs; fsync back on and a checkpoint after);
#   5. counts the decoded output once, untimed (the changes must number
#      3 x BENCH_ROWS; the bytes give MB/s);
#   6. per run, in alternating order: (a) pg_recvlogical --endpos=<end of
#      workload> -f /dev/null on its slot, timed; (b) walbridged started on
#      its slot, timed until the slot's confirmed_flush_lsn reaches the end
#      of the workload (walbridged confirms only what Kafka acknowledged),
#      its peak RSS (VmHWM) read from /proc while it runs, then SIGTERM;
#   7. prints each measurement, the medians and walbridged / pg_recvlogical.
#
# Besides wall-clock time, each measurement reports CPU seconds (user+sys):
# the walsender's (what the postmaster's cutime+cstime grew by once it
# reaped it, as bench/run does), the client's (pg_recvlogical's, from this
# shell's reaped children; walbridged's, all its threads, from /proc just
# before it is stopped) and the mock broker's.  Wall-clock time on a shared
# machine is noisy; CPU time shows where the work went.
#
# Both read the slot with the options walbridged uses (only_local,
# include_tables = public.bench), so both decode the same records.  MB/s is
# the plugin's output (the records' bytes, which walbridged publishes with
# Kafka headers and, once per message, the table's RELATION record), counted
# by decoding a third slot: walbridged logs its own byte count only every
# 60 s while it streams, not when it stops.  The
# mock broker runs on the same machine: its CPU competes with walbridged's
# and the walsender's, which a remote Kafka's would not.

set -euo pipefail
shopt -s inherit_errexit	# failures inside $(...) stop the script too

rows=${BENCH_ROWS:-1000000}
runs=${BENCH_RUNS:-3}
port=${BENCH_PORT:-25700}
repo=$(cd "$(dirname "$0")/.." && pwd)
node=bench
topic=walbridge.$node
tables=public.bench

die() { echo "bench/publish.sh: $*" >&2; exit 1; }
log() { echo "bench/publish.sh: $*" >&2; }

[[ $rows =~ ^[0-9]+$ && $rows -ge 1000 ]] || die "BENCH_ROWS must be an integer >= 1000"
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 ]] || die "BENCH_RUNS must be a positive integer"
[[ $port =~ ^[0-9]+$ && $port -ge 1024 && $port -lt 32768 ]] ||
	die "BENCH_PORT must be between 1024 and 32767"
changes=$((3 * rows))

# ---------------------------------------------------------------------------
# Build, server, broker
# ---------------------------------------------------------------------------

# shellcheck source-path=SCRIPTDIR/.. source=test/servers.sh
source "$repo/test/servers.sh"
install_walbridge "$repo"
walbridged=$pg_bindir/walbridged
broker_bin=$repo/test/broker/mock_broker
for f in "$walbridged" "$broker_bin" "$pg_bindir/pg_recvlogical"; do
	[[ -x $f ]] || die "$f not found"
done

wbd_pid=
broker_pid=

# Stop what we started, by pid, and the server; remove everything.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $wbd_pid ]]; then kill -KILL "$wbd_pid" 2>/dev/null || true; fi
	if [[ -n $broker_pid ]]; then kill -TERM "$broker_pid" 2>/dev/null || true; fi
	servers_cleanup
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_start "$node" "$port" "autovacuum = off" "fsync = off" "max_wal_size = 4GB"
work=$servers_root/publish
mkdir -p "$work"
pm_pid=$(head -n 1 "$servers_root/$node/data/postmaster.pid")
hz=$(getconf CLK_TCK)
conn="host=127.0.0.1 port=$port user=postgres dbname=postgres"
sql() { server_psql "$node" -At "$@"; }

"$broker_bin" 1 "$topic" >"$work/broker.out" 2>"$work/broker.err" </dev/null &
broker_pid=$!
for _ in $(seq 100); do
	[[ -s $work/broker.out ]] && break
	sleep 0.1
done
bootstraps=$(head -n 1 "$work/broker.out")
[[ -n $bootstraps ]] || die "mock broker did not start: $(cat "$work/broker.err")"

# A psql session kept open for polling: a query costs no new connection.
# Sets REPLY.
coproc POLL { server_psql "$node" -At 2>&1; }
poll_query() {
	printf '%s;\n' "$1" >&"${POLL[1]}"
	IFS= read -r -t 30 -u "${POLL[0]}" REPLY || die "the polling session did not answer"
}

# ---------------------------------------------------------------------------
# walbridged
# ---------------------------------------------------------------------------

# wbd_start RUN: start walbridged on slot wbd_RUN in the background.
wbd_start() {
	local conf=$work/wbd_$1.conf
	{
		echo "slot_name = 'wbd_$1'"
		echo "create_topics = off"
		echo "replication_factor = 1"
		echo "snapshot = off"
	} >"$conf"
	"$walbridged" -d "$conn" -b "$bootstraps" -c "$conf" >>"$work/wbd_$1.log" 2>&1 &
	wbd_pid=$!
}

# wbd_stop RUN: SIGTERM, wait; it must exit 0.
wbd_stop() {
	local status=0
	kill -TERM "$wbd_pid"
	wait "$wbd_pid" || status=$?
	wbd_pid=
	[[ $status -eq 0 ]] || die "walbridged (run $1) exited with status $status; its log: $work/wbd_$1.log"
}

# Of the running walbridged: VmHWM (peak resident set, kB) into hwm, and
# user+sys clock ticks so far into wbd_ticks.
read_wbd() {
	local key value _ stat
	[[ -r /proc/$wbd_pid/status ]] || return 0
	while read -r key value _; do
		if [[ $key == VmHWM: ]]; then
			((value > hwm)) && hwm=$value
			break
		fi
	done <"/proc/$wbd_pid/status"
	read -r stat <"/proc/$wbd_pid/stat" || return 0
	stat=${stat##*) }			# fields from 3 on: state ppid ...
	read -r -a stat <<<"$stat"
	wbd_ticks=$((stat[11] + stat[12]))	# utime, stime (fields 14, 15)
}

# CPU seconds (user+sys) of the exited and reaped children of process $1
# (/proc/PID/stat fields 16 and 17).
reaped_cpu() {
	awk -v hz="$hz" '{ printf "%.2f\n", ($16 + $17) / hz }' "/proc/$1/stat"
}

# CPU seconds (user+sys) of running process $1 (fields 14 and 15).
own_cpu() {
	awk -v hz="$hz" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$1/stat"
}

# Wait until the server has no walsender and no backend but the polling
# session, so that the postmaster's reaped CPU counts only the walsender
# (and walbridged's short-lived ordinary connection) of one measurement.
wait_idle() {
	local i children
	for ((i = 0; i < 200; i++)); do
		children=$(proc_children_args "$pm_pid")
		if [[ $children != *"postgres: walsender"* ]] &&
			(($(grep -c '^postgres: postgres ' <<<"$children") <= 1)); then
			return 0
		fi
		sleep 0.05
	done
	die "server processes did not exit"
}

# ---------------------------------------------------------------------------
# Slots, then the workload
# ---------------------------------------------------------------------------

log "PostgreSQL $(sql -c 'SHOW server_version') on 127.0.0.1:$port, broker $bootstraps, $rows rows ($changes changes), $runs run(s)"

sql <<EOF
CREATE EXTENSION walbridge;
SELECT FROM walbridge.create_node('$node');
SELECT FROM walbridge.start_sync('{}');
CREATE TABLE bench (id int PRIMARY KEY, a int, b text, c timestamptz, d numeric);
EOF

# Every slot exists before the workload, so each sees all of it.
sql -c "SELECT FROM pg_create_logical_replication_slot('bytes', 'walbridge')"
for ((r = 1; r <= runs; r++)); do
	sql -c "SELECT FROM pg_create_logical_replication_slot('recv_$r', 'walbridge')"
	# walbridged creates its own slot, and marks the node initialized.
	wbd_start "$r"
	for _ in $(seq 300); do
		grep -q 'streaming slot' "$work/wbd_$r.log" && break
		kill -0 "$wbd_pid" 2>/dev/null || die "walbridged exited; its log: $work/wbd_$r.log"
		sleep 0.1
	done
	grep -q 'streaming slot' "$work/wbd_$r.log" || die "walbridged did not start streaming; its log: $work/wbd_$r.log"
	wbd_stop "$r"
done

log "workload"
t0=$EPOCHREALTIME
sql <<EOF
SET synchronous_commit = off;
CREATE PROCEDURE bench_workload(n int)
LANGUAGE plpgsql AS \$\$
DECLARE
	lo int;
BEGIN
	FOR lo IN 1..n BY 1000 LOOP
		INSERT INTO bench
			SELECT g, g % 1000, md5(g::text), now(), g * 1.5
			FROM generate_series(lo, least(lo + 999, n)) g;
		COMMIT;
	END LOOP;
	FOR lo IN 1..n BY 1000 LOOP
		UPDATE bench SET a = a + 1, b = b || 'x', c = c + interval '1 s', d = d + 1
			WHERE id BETWEEN lo AND lo + 999;
		COMMIT;
	END LOOP;
	FOR lo IN 1..n BY 1000 LOOP
		DELETE FROM bench WHERE id BETWEEN lo AND lo + 999;
		COMMIT;
	END LOOP;
END
\$\$;
CALL bench_workload($rows);
EOF
t1=$EPOCHREALTIME

# Durable again for the measurements, everything flushed; then the end position.
sql -c "ALTER SYSTEM SET fsync = on" -c "SELECT pg_reload_conf()" -c "CHECKPOINT" >/dev/null
endpos=$(sql -c "SELECT pg_current_wal_lsn()")
walmb=$(sql -c "SELECT round((pg_current_wal_lsn() - restart_lsn) / 1048576) FROM pg_replication_slots WHERE slot_name = 'bytes'")
log "workload took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, ${walmb} MB of WAL, end LSN $endpos"

# The output, once and untimed: its changes (tag I, U or D after the
# array header) and its size.  This also reads the WAL into the page cache.
log "counting the decoded output"
IFS='|' read -r got records out_bytes < <(sql -c "
	SELECT count(*) FILTER (WHERE get_byte(data, 1) IN (73, 85, 68)), count(*), sum(length(data))
	FROM pg_logical_slot_get_binary_changes('bytes', '$endpos', NULL,
		'only_local', 'true', 'include_tables', '$tables')")
[[ $got -eq $changes ]] || die "the slot decoded $got changes, expected $changes"
log "$records records, $out_bytes bytes of output ($(awk -v b="$out_bytes" -v c="$changes" 'BEGIN { printf "%.1f", b / c }') bytes per change)"

# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------

slot_done() {
	poll_query "SELECT confirmed_flush_lsn >= '$endpos' FROM pg_replication_slots WHERE slot_name = '$1'"
	[[ $REPLY == t ]]
}

# recv RUN: pg_recvlogical drains slot recv_RUN to the end; sets secs,
# server_cpu (its walsender), client_cpu.
recv() {
	local a b c0 c1 s0 s1
	wait_idle
	s0=$(reaped_cpu "$pm_pid")
	c0=$(reaped_cpu $$)
	a=$EPOCHREALTIME
	"$pg_bindir/pg_recvlogical" -d "$conn" --slot "recv_$1" --start --endpos="$endpos" --no-loop \
		-F 0 -f /dev/null -o only_local=true -o include_tables="$tables"
	b=$EPOCHREALTIME
	c1=$(reaped_cpu $$)
	slot_done "recv_$1" || die "slot recv_$1 stopped short of $endpos"
	wait_idle
	s1=$(reaped_cpu "$pm_pid")
	secs=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b - a }')
	server_cpu=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a }')
	client_cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
	broker_cpu=
}

# publish RUN: walbridged streams slot wbd_RUN into Kafka until the slot
# confirmed the end of the workload; sets secs, hwm (kB), server_cpu,
# client_cpu, broker_cpu.
publish() {
	local a b deadline s0 s1 k0 k1
	hwm=0
	wbd_ticks=0
	wait_idle
	s0=$(reaped_cpu "$pm_pid")
	k0=$(own_cpu "$broker_pid")
	a=$EPOCHREALTIME
	wbd_start "$1"
	deadline=$((${a%.*} + 3600))
	until slot_done "wbd_$1"; do
		kill -0 "$wbd_pid" 2>/dev/null || die "walbridged exited; its log: $work/wbd_$1.log"
		((${EPOCHREALTIME%.*} < deadline)) || die "walbridged did not reach $endpos within an hour"
		read_wbd
		sleep 0.05
	done
	b=$EPOCHREALTIME
	read_wbd
	k1=$(own_cpu "$broker_pid")
	wbd_stop "$1"
	wait_idle
	s1=$(reaped_cpu "$pm_pid")
	secs=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b - a }')
	server_cpu=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a }')
	client_cpu=$(awk -v t="$wbd_ticks" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
	broker_cpu=$(awk -v a="$k0" -v b="$k1" 'BEGIN { printf "%.2f", b - a }')
}

declare -A all_secs=([recv]="" [walbridged]="") all_server=([recv]="" [walbridged]="") \
	all_client=([recv]="" [walbridged]="")
all_hwm=""
all_broker=""

# row METHOD SECONDS SERVER_CPU CLIENT_CPU BROKER_CPU HWM_KB: one line of a
# table ("" for what does not apply).
row() {
	awk -v m="$1" -v s="$2" -v w="$3" -v c="$4" -v k="$5" -v h="$6" \
		-v n="$rows" -v ch="$changes" -v b="$out_bytes" \
		'BEGIN { printf "%-15s %9.3f %9.0f %10.0f %6.1f %10.2f %9.2f %9s %8s\n", m, s, n / s, ch / s,
			b / 1048576 / s, w, c, k == "" ? "-" : sprintf("%.2f", k),
			h == "" ? "-" : sprintf("%.1f", h / 1024) }'
}
header() {
	printf '%-15s %9s %9s %10s %6s %10s %9s %9s %8s\n' "$1" seconds rows/s changes/s MB/s \
		"server-cpu" "client-cpu" "broker-cpu" "peak-MB"
}

echo
printf '%-4s ' run
header method
for ((run = 1; run <= runs; run++)); do
	# Alternate the order, so neither always goes first.
	if ((run % 2)); then order=(recv walbridged); else order=(walbridged recv); fi
	for m in "${order[@]}"; do
		printf '%-4s ' "$run"
		if [[ $m == recv ]]; then
			recv "$run"
			row pg_recvlogical "$secs" "$server_cpu" "$client_cpu" "" ""
		else
			publish "$run"
			row walbridged "$secs" "$server_cpu" "$client_cpu" "$broker_cpu" "$hwm"
			all_hwm+="$hwm "
			all_broker+="$broker_cpu "
		fi
		all_secs[$m]+="$secs "
		all_server[$m]+="$server_cpu "
		all_client[$m]+="$client_cpu "
	done
done

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

# median VALUES...: the middle value (mean of the two middle ones if even).
median() {
	printf '%s\n' "$@" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# shellcheck disable=SC2086
med_recv=$(median ${all_secs[recv]})
# shellcheck disable=SC2086
med_wbd=$(median ${all_secs[walbridged]})

echo
echo "$changes changes ($rows rows inserted, updated, deleted; 1,000 per transaction), ${walmb} MB of WAL,"
echo "$out_bytes bytes of walbridge output; median of $runs run(s); cpu in seconds (user+sys):"
echo "server = the walsender, client = pg_recvlogical or walbridged, broker = the mock broker"
echo
header method
# shellcheck disable=SC2086
row pg_recvlogical "$med_recv" "$(median ${all_server[recv]})" "$(median ${all_client[recv]})" "" ""
# shellcheck disable=SC2086
row walbridged "$med_wbd" "$(median ${all_server[walbridged]})" "$(median ${all_client[walbridged]})" \
	"$(median $all_broker)" "$(median $all_hwm)"
echo
awk -v r="$med_recv" -v w="$med_wbd" \
	'BEGIN { printf "walbridged / pg_recvlogical: %.0f%% of the throughput of pg_recvlogical (the ceiling)\n", 100 * r / w }'
