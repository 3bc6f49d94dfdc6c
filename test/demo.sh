#!/usr/bin/env bash
#
# test/demo.sh — install what walbridge needs, build it, and show what its
# output plugin emits (`make demo`).  Starts a throwaway server on
# 127.0.0.1:25440 and removes it at the end.
#
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

"$repo/test/install-deps"
make -C "$repo" -s
if [ "$(id -u)" -eq 0 ]; then make -C "$repo" -s install >/dev/null; else sudo make -C "$repo" -s install >/dev/null; fi

source "$repo/test/servers.sh"
trap servers_cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a PostgreSQL 15 server with wal_level=logical and walbridge in output_plugin_libraries"
server_start demo 25440
server_psql demo -c "CREATE EXTENSION walbridge" -c "SELECT * FROM walbridge.check_setup()"

step "a walbridge slot, then some changes"
server_psql demo <<'SQL'
SELECT walbridge.create_slot('demo');
CREATE TABLE orders (id integer PRIMARY KEY, item text, qty integer, note text);
INSERT INTO orders VALUES (1, 'apple', 3, NULL), (2, 'pear', 1, 'gift');
UPDATE orders SET qty = 4 WHERE id = 1;
DELETE FROM orders WHERE id = 2;
SELECT pg_logical_emit_message(true, 'demo', 'hello from psql');
SQL

step "pg_recvlogical -o format=text: the debugging view"
end=$(server_psql demo -Atc "SELECT pg_current_wal_lsn()")
"$pg_bindir/pg_recvlogical" -h 127.0.0.1 -p 25440 -U postgres -d postgres --slot demo \
	--start --endpos "$end" --no-loop -o format=text -f - | cut -c1-160

step "the same changes as compact msgpack records, read with walbridge.decode()"
server_psql demo -c "INSERT INTO orders VALUES (3, 'plum', 7, 'ripe')" -c "UPDATE orders SET note = 'sold'"
server_psql demo -P pager=off -c "SELECT length(data) AS bytes, walbridge.decode(data) FROM pg_logical_slot_get_binary_changes('demo', NULL, NULL)"

step "done: the server is stopped and removed"
