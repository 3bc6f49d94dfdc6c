# Applying into the schemas real mirrors have (issue 10, part 3), one way
# A -> B:
# - user triggers do not fire during apply (session_replication_role =
#   replica), unless marked ENABLE REPLICA or ENABLE ALWAYS; a trigger that
#   writes another synced table acts once, on the node where the change
#   was made;
# - a row that collides on B with another row on a secondary unique key
#   is never dropped: apply pauses naming the constraint, records the
#   conflict once, and resumes by itself after the fix; in bulk and one
#   change at a time;
# - a value too large for B's column (varchar(n), char(n), bit(n),
#   numeric(p,s)) pauses apply naming table, column and size, in bulk and
#   one at a time; never cut short;
# - REPLICA IDENTITY USING INDEX (a unique index that is not the primary
#   key): updates and deletes find their rows;
# - a column generated on B only is computed there; columns in another
#   order on B apply by name;
# - a lost apply connection is logged with libpq's message and does not
#   restart the publishing half.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

my $broker = start_broker('walbridge.a', 'walbridge.b');
my $a = walbridge_node('a');
my $b = walbridge_node('b');

my $common = q{
	CREATE TABLE audit (id bigserial PRIMARY KEY, account_id integer, what text);
	CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END$$;
	CREATE FUNCTION audit_it() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN INSERT INTO audit (account_id, what) VALUES (NEW.id, TG_OP); RETURN NEW; END$$;
};
$a->safe_psql('postgres', $common . q{
	CREATE TABLE accounts (id integer PRIMARY KEY, email varchar(40) NOT NULL UNIQUE, name text,
		updated_at timestamptz);
	CREATE TRIGGER touch BEFORE INSERT OR UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
	CREATE TRIGGER audit AFTER INSERT OR UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION audit_it();
	CREATE TABLE sized (id integer PRIMARY KEY, v varchar(20), c char(6), b bit(4), n numeric(12,2));
	CREATE TABLE narrow (id integer PRIMARY KEY, v varchar(20));
	CREATE TABLE by_code (id integer PRIMARY KEY, code text NOT NULL, v text);
	CREATE UNIQUE INDEX by_code_code ON by_code (code);
	ALTER TABLE by_code REPLICA IDENTITY USING INDEX by_code_code;
	CREATE TABLE shaped (id integer PRIMARY KEY, a integer, b text, c numeric);
	CREATE TABLE marks (id integer PRIMARY KEY, v text);
});
# B: the same tables, but narrower columns, another column order, a
# generated column of its own, and triggers of its own.
$b->safe_psql('postgres', $common . q{
	CREATE TABLE accounts (id integer PRIMARY KEY, email varchar(40) NOT NULL UNIQUE, name text,
		updated_at timestamptz);
	CREATE TRIGGER touch BEFORE INSERT OR UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
	CREATE TRIGGER audit AFTER INSERT OR UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION audit_it();
	CREATE TABLE sized (id integer PRIMARY KEY, v varchar(8), c char(3), b bit(3), n numeric(5,2));
	CREATE TABLE narrow (id integer PRIMARY KEY, v varchar(8));
	CREATE TABLE by_code (id integer PRIMARY KEY, code text NOT NULL, v text);
	CREATE UNIQUE INDEX by_code_code ON by_code (code);
	CREATE TABLE shaped (c numeric, b text, id integer PRIMARY KEY, a integer,
		a_twice integer GENERATED ALWAYS AS (a * 2) STORED);
	CREATE TABLE marks (id integer PRIMARY KEY, v text, seen_here text);
	CREATE FUNCTION mark() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN NEW.seen_here := coalesce(NEW.seen_here, '') || TG_OP || ' '; RETURN NEW; END$$;
	CREATE TRIGGER mark_always BEFORE INSERT OR UPDATE ON marks FOR EACH ROW EXECUTE FUNCTION mark();
	ALTER TABLE marks ENABLE ALWAYS TRIGGER mark_always;
	-- B's own writes below are audited too, with ids A never uses
	ALTER SEQUENCE audit_id_seq RESTART WITH 1000000;
});

$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}');});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}');});
my $wa = start_walbridged($a, $broker);
my $wb = start_walbridged($b, $broker);

sub state_of_a
{
	return $b->safe_psql('postgres', q{SELECT state || ': ' || coalesce(last_error, '') FROM walbridge.status() WHERE peer = 'a'});
}

sub applied
{
	my ($what, $query, $want) = @_;
	my $got;
	for (1 .. 600)
	{
		$got = $b->safe_psql('postgres', $query);
		return 1 if $got eq $want;
		usleep(100_000);
	}
	is($got, $want, "$what (apply: " . state_of_a() . ')');
	return 0;
}

sub paused_with
{
	my ($what, $re) = @_;
	my $ok = $b->poll_query_until('postgres',
		q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'a'});
	ok($ok, "$what: apply pauses");
	like(state_of_a(), $re, "$what: status() says why");
}

# ---------------------------------------------------------------- triggers
$a->safe_psql('postgres', q{
	INSERT INTO accounts (id, email, name) SELECT g, 'user' || g || '@example.com', 'user ' || g
	  FROM generate_series(1, 50) g;
	UPDATE accounts SET name = 'renamed' WHERE id <= 5;
});
ok(applied('accounts arrive', q{SELECT count(*) FROM accounts}, '50'), 'accounts arrive on B');
ok(tables_converge('triggers', [ $a, $b ], [ 'accounts', 'audit' ]),
	'B equals A: updated_at as A wrote it, and the audit rows A\'s trigger wrote, once');
is($b->safe_psql('postgres', q{SELECT count(*) FROM audit}), '55',
	'the audit trigger did not fire again on B (50 inserts and 5 updates, audited once)');
$a->safe_psql('postgres', q{INSERT INTO marks VALUES (1, 'one'); UPDATE marks SET v = 'uno' WHERE id = 1;});
ok(applied('ENABLE ALWAYS trigger', q{SELECT v || '/' || seen_here FROM marks}, 'uno/INSERT UPDATE '),
	'a trigger marked ENABLE ALWAYS fires during apply');
$b->safe_psql('postgres', q{ALTER TABLE marks ENABLE REPLICA TRIGGER mark_always});
$a->safe_psql('postgres', q{INSERT INTO marks VALUES (2, 'two')});
ok(applied('ENABLE REPLICA trigger', q{SELECT seen_here FROM marks WHERE id = 2}, 'INSERT '),
	'a trigger marked ENABLE REPLICA fires during apply');

# ------------------------------------------------- secondary unique keys
# B has a row of its own whose email a new row from A also has.
$b->safe_psql('postgres', q{INSERT INTO accounts (id, email, name) VALUES (1001, 'taken@example.com', 'B''s own')});
$a->safe_psql('postgres', q{INSERT INTO accounts (id, email, name) VALUES (60, 'taken@example.com', 'A''s')});
$a->safe_psql('postgres', q{INSERT INTO accounts (id, email, name) VALUES (61, 'after@example.com', 'after')});
paused_with('one row colliding on the unique email',
	qr/paused: .*conflict: the INSERT row collides in public\.accounts with another row on a unique key \(duplicate key value violates unique constraint "accounts_email_key": Key \(email\)=\(taken\@example\.com\) already exists\.\)/);
is($b->safe_psql('postgres', q{SELECT name FROM accounts WHERE email = 'taken@example.com'}), "B's own",
	'B\'s row is not overwritten');
is($b->safe_psql('postgres', q{SELECT count(*) FROM accounts WHERE id IN (60, 61)}), '0',
	'nothing of it or after it is applied');
sleep 6;	# a retry or two
is($b->safe_psql('postgres', q{SELECT kind || '/' || decision || '/' || table_name || '/' || (remote_row->>'email') FROM walbridge.conflicts}),
	'unique_conflict/pause/public.accounts/taken@example.com', 'the conflict is recorded once, with the row');
$b->safe_psql('postgres', q{DELETE FROM accounts WHERE id = 1001});
ok(applied('after the fix', q{SELECT count(*) FROM accounts WHERE id IN (60, 61)}, '2'),
	'after the colliding row is removed on B, apply resumes by itself and nothing is lost');

# The same in bulk: one colliding row among many in one transaction.
$b->safe_psql('postgres', q{INSERT INTO accounts (id, email, name) VALUES (1002, 'bulk150@example.com', 'B''s own')});
$a->safe_psql('postgres', q{
	INSERT INTO accounts (id, email, name) SELECT g, 'bulk' || g || '@example.com', 'bulk'
	  FROM generate_series(100, 300) g;
});
paused_with('a bulk insert with one colliding row',
	qr/unique constraint "accounts_email_key": Key \(email\)=\(bulk150\@example\.com\)/);
is($b->safe_psql('postgres', q{SELECT count(*) FROM accounts WHERE id BETWEEN 100 AND 300}), '0',
	'no row of that transaction is applied');
$b->safe_psql('postgres', q{UPDATE accounts SET email = 'moved@example.com' WHERE id = 1002});
ok(applied('bulk after the fix', q{SELECT count(*) FROM accounts WHERE id BETWEEN 100 AND 300}, '201'),
	'after the fix every row of it arrives');

# An update that moves a row onto an email B has elsewhere.
$b->safe_psql('postgres', q{INSERT INTO accounts (id, email, name) VALUES (1003, 'u1@example.com', 'B''s own')});
$a->safe_psql('postgres', q{UPDATE accounts SET email = 'u1@example.com' WHERE id = 1});
paused_with('an update onto a taken email', qr/the UPDATE row collides in public\.accounts/);
$b->safe_psql('postgres', q{DELETE FROM accounts WHERE id = 1003});
ok(applied('update after the fix', q{SELECT email FROM accounts WHERE id = 1}, 'u1@example.com'),
	'after the fix the update arrives');
is($b->safe_psql('postgres', q{SELECT count(*) FROM walbridge.conflicts WHERE kind = 'unique_conflict'}), '3',
	'each unique conflict recorded once');

# ------------------------------------------------------ values too large
# One row at a time (each its own transaction) and in bulk (many rows in
# one transaction): the same pause, naming the column.
my @misfits = (
	[ 'varchar', q{INSERT INTO sized (id, v) VALUES (%d, 'abcdefghijkl')}, qr/column v of table public\.sized does not fit here: 12 characters for character varying\(8\)/,
	  q{ALTER TABLE sized ALTER v TYPE varchar(20)} ],
	[ 'char', q{INSERT INTO sized (id, c) VALUES (%d, 'abcdef')}, qr/column c of table public\.sized does not fit here: 6 characters for character\(3\)/,
	  q{ALTER TABLE sized ALTER c TYPE char(6)} ],
	[ 'bit', q{INSERT INTO sized (id, b) VALUES (%d, B'1011')}, qr/column b of table public\.sized does not fit here: 4 bits for bit\(3\)/,
	  q{ALTER TABLE sized ALTER b TYPE bit(4) USING b || B'0'} ],
	[ 'numeric', q{INSERT INTO sized (id, n) VALUES (%d, 123456.78)}, qr/column n of table public\.sized does not fit here: 6 digits before the decimal point for numeric\(5,2\)/,
	  q{ALTER TABLE sized ALTER n TYPE numeric(12,2)} ],
);
my $id = 0;
for my $m (@misfits)
{
	my ($type, $insert, $re, $fix) = @$m;
	# alone first, then in bulk among fitting rows, with the column still narrow
	my $alone = ++$id;
	$a->safe_psql('postgres', sprintf($insert, $alone));
	paused_with("$type, one row", $re);
	is($b->safe_psql('postgres', "SELECT count(*) FROM sized WHERE id = $alone"), '0', "$type: not applied cut short");
	$b->safe_psql('postgres', $fix);
	ok(applied("$type after the fix", "SELECT count(*) FROM sized WHERE id = $alone", '1'), "$type: arrives after the fix");
}
ok(tables_converge('values that fit after the fixes', [ $a, $b ], [ 'sized' ]), 'sized: B equals A, values whole');
$a->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO narrow (id, v) SELECT g, 'short' FROM generate_series(1000, 1400) g;
	UPDATE narrow SET v = 'much too long for B' WHERE id = 1200;
	UPDATE narrow SET v = 'ok' WHERE id BETWEEN 1000 AND 1100;
	COMMIT;
});
paused_with('varchar, in bulk', qr/column v of table public\.narrow does not fit here: 19 characters for character varying\(8\)/);
is($b->safe_psql('postgres', q{SELECT count(*) FROM narrow}), '0', 'varchar in bulk: nothing of it applied');
$b->safe_psql('postgres', q{ALTER TABLE narrow ALTER v TYPE varchar(20)});
ok(tables_converge('varchar in bulk after the fix', [ $a, $b ], [ 'narrow' ]), 'after the fix B equals A, no value cut short');

# ---------------------------------------- replica identity on another index
$a->safe_psql('postgres', q{
	INSERT INTO by_code SELECT g, 'code' || g, 'v' || g FROM generate_series(1, 200) g;
	UPDATE by_code SET v = 'changed' WHERE id <= 50;
	UPDATE by_code SET code = 'recoded' || id WHERE id BETWEEN 51 AND 60;
	DELETE FROM by_code WHERE id > 150;
});
$a->safe_psql('postgres', q{DELETE FROM by_code WHERE id = 1});
$a->safe_psql('postgres', q{UPDATE by_code SET code = 'one more' WHERE id = 2});
ok(tables_converge('replica identity using index', [ $a, $b ], [ 'by_code' ]),
	'REPLICA IDENTITY USING INDEX: updates, key changes and deletes find their rows');

# ------------------------------- generated here, another column order here
$a->safe_psql('postgres', q{
	INSERT INTO shaped SELECT g, g, 'b' || g, g / 3.0 FROM generate_series(1, 300) g;
	UPDATE shaped SET a = a + 1000 WHERE id <= 100;
	DELETE FROM shaped WHERE id > 250;
});
$a->safe_psql('postgres', q{UPDATE shaped SET b = 'single' WHERE id = 7});
ok(applied('shaped', q{SELECT count(*) FROM shaped}, '250'), 'shaped rows arrive');
is($b->safe_psql('postgres', q{SELECT string_agg(format('%s,%s,%s,%s', id, a, b, c), ';' ORDER BY id) FROM shaped}),
	$a->safe_psql('postgres', q{SELECT string_agg(format('%s,%s,%s,%s', id, a, b, c), ';' ORDER BY id) FROM shaped}),
	'columns in another order on B apply by name');
is($b->safe_psql('postgres', q{SELECT count(*) FROM shaped WHERE a_twice IS DISTINCT FROM a * 2}), '0',
	'the column generated on B only is computed there');

# --------------------------------------------------- lost apply connection
my $b_walsender = $b->safe_psql('postgres', q{SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'walbridge_b'});
is($b->safe_psql('postgres', q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'walbridged apply'}),
	'1', 'B\'s apply connection is terminated');
# apply notices when it next talks to its server
$a->safe_psql('postgres', q{INSERT INTO marks VALUES (3, 'after the lost connection')});
ok($wb->wait_for_log(qr/lost the database connection applying node "a": .*terminat/),
	'the lost apply connection is logged with libpq\'s message');
ok(applied('after a lost apply connection', q{SELECT count(*) FROM marks WHERE id = 3}, '1'),
	'apply comes back by itself');
is($b->safe_psql('postgres', q{SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'walbridge_b'}),
	$b_walsender, 'B\'s own slot stream was not restarted');
unlike($wb->log_contents, qr/retrying in \d+ ms/, 'no session restart');

is($b->safe_psql('postgres', q{SELECT count(*) FROM walbridge.conflicts WHERE kind <> 'unique_conflict'}), '0',
	'one way: no other conflict');
is($wa->stop, 0, 'A stops cleanly');
is($wb->stop, 0, 'B stops cleanly');
$broker->stop;
done_testing();
