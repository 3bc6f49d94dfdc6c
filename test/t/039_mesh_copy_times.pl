# The initial copy in a mesh: a copied row competes with the time it was
# committed on its source (its xmin's commit timestamp there), exactly as
# if it had been streamed, and keeps that time here.
#
# Two nodes start with different versions of the same rows, written
# before sync started, in separate transactions at known times.  Each copies
# the other's tables: for every row, the later version wins on both nodes
# (it used to be the local one on each, so they differed for ever), and the
# loser is recorded as a conflict.  A row only one node had arrives
# stamped with its real commit time and its writer, so that a later change
# from anywhere is judged against that time, not the copy's.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

my @names = qw(a b);
my $broker = start_broker(map { "walbridge.$_" } @names);
my %node = map { $_ => walbridge_node("ctime_$_") } @names;
$node{$_}->safe_psql('postgres', q{
	CREATE TABLE doc (id integer PRIMARY KEY, body text, by text);
	CREATE TABLE big (id integer PRIMARY KEY, v integer)})
  for @names;

# row 5 on both, written while track_commit_timestamp was off: of unknown
# time on both nodes, each version counts as written by its own node at
# the oldest time, and the greater node name settles it alike on both (it
# used to be each node taking the other's).  First: turning the setting
# off and on again forgets every earlier commit time.
for my $me (@names)
{
	$node{$me}->append_conf('postgresql.conf', 'track_commit_timestamp = off');
	$node{$me}->restart;
	$node{$me}->safe_psql('postgres', qq{INSERT INTO doc VALUES (5, 'from $me, time unknown', '$me')});
	$node{$me}->append_conf('postgresql.conf', 'track_commit_timestamp = on');
	$node{$me}->restart;
}
# Who writes each row last, before sync: row 1 a then b, row 2 b then a,
# row 3 only a, row 4 only b; each write its own transaction, apart in time.
sub write_row
{
	my ($me, $id) = @_;
	$node{$me}->safe_psql('postgres', qq{
		INSERT INTO doc VALUES ($id, 'from $me', '$me')
		ON CONFLICT (id) DO UPDATE SET body = excluded.body, by = excluded.by});
	usleep(20_000);
}
write_row('a', 1);
write_row('b', 2);
write_row('b', 1);
write_row('a', 2);
write_row('a', 3);
write_row('b', 4);
# rows of one bulk transaction copy as one run: one transaction here
$node{a}->safe_psql('postgres', q{INSERT INTO big SELECT g, g FROM generate_series(1, 5000) g});

my %source_time = map {
	my $me = $_;
	$me => { map { split /\|/ } split /\n/, $node{$me}->safe_psql('postgres',
		q{SELECT id, pg_xact_commit_timestamp(xmin) FROM doc WHERE id < 5}) }
} @names;

for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	$node{$me}->safe_psql('postgres', qq{
		SELECT walbridge.create_node('$me');
		SELECT walbridge.start_sync('{$peer}');});
}
my %wb = map { $_ => start_walbridged($node{$_}, $broker) } @names;

ok(tables_converge('after both copies', [ $node{a}, $node{b} ], [ 'doc', 'big' ]),
	'both nodes hold the same rows');
is($node{$_}->safe_psql('postgres', q{SELECT string_agg(id || '=' || by, ',' ORDER BY id) FROM doc}),
	'1=b,2=a,3=a,4=b,5=b', "$_: each row is its latest version, whichever node copied it; of unknown times, b's") for @names;

# The version that lost on each node is a conflict there, decided by time.
is($node{a}->safe_psql('postgres',
		q{SELECT string_agg(kind || '/' || decision || '/' || (remote_row->>'id'), ',' ORDER BY remote_row->>'id') FROM walbridge.conflicts}),
	'insert_exists/apply_remote/1,insert_exists/keep_local/2,insert_exists/apply_remote/5', 'a: b\'s newer row 1 replaced a\'s, a\'s newer row 2 kept, b\'s row 5 won the tie');
is($node{b}->safe_psql('postgres',
		q{SELECT string_agg(kind || '/' || decision || '/' || (remote_row->>'id'), ',' ORDER BY remote_row->>'id') FROM walbridge.conflicts}),
	'insert_exists/keep_local/1,insert_exists/apply_remote/2,insert_exists/keep_local/5', 'b: mirror image');

# A copied row keeps its source's commit time, under its source's origin.
for my $c ([ 'b', 3, 'a' ], [ 'a', 4, 'b' ], [ 'b', 2, 'a' ], [ 'a', 1, 'b' ])
{
	my ($me, $id, $from) = @$c;
	is($node{$me}->safe_psql('postgres',
			qq{SELECT w.commit_time || '|' || w.node FROM doc, walbridge.row_writer(doc.xmin) w WHERE id = $id}),
		"$source_time{$from}{$id}|$from", "$me: copied row $id stamped with $from\'s commit time and node");
}
my $big_time = $node{a}->safe_psql('postgres', q{SELECT DISTINCT pg_xact_commit_timestamp(xmin) FROM big});
is($node{b}->safe_psql('postgres',
		q{SELECT count(DISTINCT w.commit_time) || '|' || min(w.commit_time) FROM big, walbridge.row_writer(big.xmin) w}),
	"1|$big_time", 'b: the rows of a bulk load all keep its one commit time');

# A later change from the row's source is its next version, as streamed.
$node{a}->safe_psql('postgres', q{UPDATE doc SET body = 'a again', by = 'a' WHERE id = 3});
ok(tables_converge('after an update of a copied row', [ $node{a}, $node{b} ], ['doc']), 'the update arrives');
is($node{b}->safe_psql('postgres', q{SELECT body FROM doc WHERE id = 3}), 'a again', 'b took a\'s update');

is($_->stop, 0, 'clean stop') for values %wb;
$broker->stop;
done_testing();
