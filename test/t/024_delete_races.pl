# Last writer wins orders deletes too: a delete racing an update, an
# insert or another delete on other nodes leaves every node the same,
# decided by commit time, with the tombstones start_sync() tracks.  Each
# race is staged while the daemons are stopped, so the order in which
# each node receives the changes is the one that used to diverge.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my @names = qw(a b c);
my $broker = start_broker(map { "walbridge.$_" } @names);
my %node = map { $_ => walbridge_node("race_$_") } @names;

for my $me (@names)
{
	my $peers = join(',', grep { $_ ne $me } @names);
	$node{$me}->safe_psql('postgres', qq{
		CREATE TABLE t (id integer PRIMARY KEY, v text NOT NULL);
		CREATE TABLE pair (a integer, b text, PRIMARY KEY (a, b));
		INSERT INTO t SELECT g, 'seed' FROM generate_series(1, 6) g;
		SELECT walbridge.create_node('$me');
		SELECT walbridge.start_sync('{$peers}', snapshot => false);});
}
my %wb = map { $_ => start_walbridged($node{$_}, $broker) } @names;
for my $me (@names)
{
	$node{$me}->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
	  or die "walbridged on $me did not start";
}
sleep 2;	# consumers assigned at the topics' ends
is($node{a}->safe_psql('postgres', q{SELECT string_agg(tbl::text, ',' ORDER BY tbl::text) FROM walbridge.tombstone_tables}),
	'pair,t', 'start_sync() tracks the deletes of every synced table');
$_->stop for values %wb;

# The races, in commit order (each statement its own transaction).
my @steps = (
	# 1: an update, then a delete of the same row elsewhere: deleted
	[ b => q{UPDATE t SET v = 'b updated' WHERE id = 1} ],
	[ a => q{DELETE FROM t WHERE id = 1} ],
	# 2: a delete, then an update elsewhere: the update wins, the row is back
	[ a => q{DELETE FROM t WHERE id = 2} ],
	[ b => q{UPDATE t SET v = 'b updated later' WHERE id = 2} ],
	# 3: two deletes
	[ a => q{DELETE FROM t WHERE id = 3} ],
	[ b => q{DELETE FROM t WHERE id = 3} ],
	# 4: a inserts a key, b inserts it too, a deletes it: deleted
	[ a => q{INSERT INTO t VALUES (10, 'a')} ],
	[ b => q{INSERT INTO t VALUES (10, 'b')} ],
	[ a => q{DELETE FROM t WHERE id = 10} ],
	# 5: a deletes, c updates, b deletes last: deleted, although c's
	#    update is later than a's delete (a and b learn of b's delete first)
	[ a => q{DELETE FROM t WHERE id = 6} ],
	[ c => q{UPDATE t SET v = 'c updated' WHERE id = 6} ],
	[ b => q{DELETE FROM t WHERE id = 6} ],
	# 6: a key changed by an update is a delete of the old key
	[ a => q{INSERT INTO pair VALUES (1, 'x')} ],
);
$node{$_->[0]}->safe_psql('postgres', $_->[1]) for @steps;

# a and b first, so that c's update reaches them after b's delete
$wb{$_} = start_walbridged($node{$_}, $broker) for qw(a b);
ok(tables_converge('a and b', [ @node{qw(a b)} ], [ 't', 'pair' ]), 'a and b converge without c');
$node{b}->safe_psql('postgres', q{UPDATE pair SET b = 'y' WHERE a = 1});		# old key (1, x) goes
$wb{c} = start_walbridged($node{c}, $broker);
ok(tables_converge('a, b and c', [ @node{qw(a b c)} ], [ 't', 'pair' ]), 'all three converge');

is(table_text($node{c}, 't'), join("\n", '(2,"b updated later")', '(4,seed)', '(5,seed)'),
	'each key holds its latest write: rows 1, 3, 6 and 10 deleted, row 2 updated after its delete');

# What each node decided, as its conflict records say.
my $kinds = q{SELECT string_agg(kind || ':' || coalesce(remote_row->>'id', remote_row->>'a'), ' ' ORDER BY kind, remote_row->>'id')
			  FROM walbridge.conflicts WHERE table_name = 'public.t'};
# The tables agree before every change was applied everywhere (c's update
# of row 6 changes nothing where b's delete came first): wait for the
# decisions, then compare them.
my %want = (a => 'delete_missing:3 delete_missing:6 insert_deleted:10 update_deleted:1 update_deleted:6 update_missing:2',
	b => 'delete_differs:2 delete_missing:3 delete_missing:6 insert_exists:10 update_deleted:6');
$node{$_}->poll_query_until('postgres', $kinds, $want{$_}) for qw(a b);
is($node{a}->safe_psql('postgres', $kinds),
	'delete_missing:3 delete_missing:6 insert_deleted:10 update_deleted:1 update_deleted:6 update_missing:2',
	'a: the later deletes kept their rows deleted, the later update brought its row back');
is($node{b}->safe_psql('postgres', $kinds),
	'delete_differs:2 delete_missing:3 delete_missing:6 insert_exists:10 update_deleted:6',
	'b: its later update kept its row; its own later delete kept out c\'s update');
like($node{a}->safe_psql('postgres', q{
	SELECT string_agg(decision, ',') FROM walbridge.conflicts
	 WHERE kind IN ('update_deleted', 'insert_deleted') AND local_commit_time IS NOT NULL
	   AND local_commit_time > remote_commit_time}), qr/^keep_local(,keep_local)*$/,
	'a conflict lost to a delete records the delete\'s commit time as the local one');

# Tombstones: what was deleted, and a key change's old key.
my $tombstones = q{SELECT string_agg(x, ' ' ORDER BY x) FROM (
	SELECT 't:' || id AS x FROM walbridge.tombstones_%s WHERE id <> 2
	UNION ALL SELECT 'pair:' || a || b FROM walbridge.tombstones_%s) s};
for my $me (@names)
{
	my $t = $node{$me}->safe_psql('postgres', q{SELECT 't'::regclass::oid});
	my $pair = $node{$me}->safe_psql('postgres', q{SELECT 'pair'::regclass::oid});
	is($node{$me}->safe_psql('postgres', sprintf($tombstones, $t, $pair)),
		'pair:1x t:1 t:10 t:3 t:6', "$me: a tombstone for every key deleted, and for the old key of a key change");
}
is(table_text($node{c}, 'pair'), '(1,y)', 'a key change applied');
# row 2: a deleted it (a tombstone), b's later update kept it (none)
is($node{a}->safe_psql('postgres', sprintf(q{SELECT count(*) FROM walbridge.tombstones_%s WHERE id = 2},
	$node{a}->safe_psql('postgres', q{SELECT 't'::regclass::oid}))), '1', 'a remembers its delete of row 2');
is($node{b}->safe_psql('postgres', sprintf(q{SELECT count(*) FROM walbridge.tombstones_%s WHERE id = 2},
	$node{b}->safe_psql('postgres', q{SELECT 't'::regclass::oid}))), '0', 'b never deleted row 2');

for my $me (@names)
{
	is($node{$me}->safe_psql('postgres', q{SELECT count(*) FROM walbridge.status() WHERE state = 'paused'}), '0',
		"$me: no peer paused");
	is($wb{$me}->stop, 0, "$me: clean stop");
	unlike($wb{$me}->log_contents, qr/could not purge tombstones/, "$me: tombstone purges ran without error");
}
$broker->stop;
done_testing();
