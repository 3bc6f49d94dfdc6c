# Large values under last writer wins (docs/RELIABILITY.md): start_sync()
# with peers sets REPLICA IDENTITY FULL on a synced table that can hold
# values stored out of line, so that an update carries the large values
# it leaves alone.  Node a rewrites a document's large body; node b,
# later, changes only its title.  The update from b carries the body it
# left alone whole (from the old row the server logs under FULL), so b's
# whole row wins on both nodes: the same title and the same body
# everywhere, b's.  An update that finds its row missing is inserted
# whole.  A table left as it was (full_rows => false) cannot be: the peer
# pauses naming the columns, instead of writing NULL in their place.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

my @names = qw(a b);
my $broker = start_broker(map { "walbridge.$_" } @names);
my %node = map { $_ => walbridge_node("large_$_") } @names;
for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	$node{$me}->safe_psql('postgres', qq{
		CREATE TABLE documents (id integer PRIMARY KEY, title text, body text, doc jsonb);
		ALTER TABLE documents ALTER body SET STORAGE EXTERNAL;
		INSERT INTO documents SELECT g, 'title ' || g, repeat('original body ' || g || ' ', 8000),
			jsonb_build_object('v', repeat('j', 50000)) FROM generate_series(1, 3) g;
		SELECT walbridge.create_node('$me');});
	# a row only b has (not copied: snapshot => false)
	$node{$me}->safe_psql('postgres', q{INSERT INTO documents VALUES (4, 'only on b', repeat('b body ', 9000), NULL)})
	  if $me eq 'b';
	my ($ok, $out, $notice) = $node{$me}->psql('postgres', qq{SELECT walbridge.start_sync('{$peer}', snapshot => false)});
	like($notice, qr/REPLICA IDENTITY FULL set on public\.documents/, "$me: start_sync says it set REPLICA IDENTITY FULL");
	is($node{$me}->safe_psql('postgres', q{SELECT relreplident FROM pg_class WHERE oid = 'documents'::regclass}), 'f',
		"$me: documents has REPLICA IDENTITY FULL");
}
my %wb;
# whatever happens, no walbridged or broker is left behind
END
{
	local $?;
	$_ && $_->alive && $_->kill9 for values %wb;
	$broker->{h}->kill_kill if $broker && $broker->{h} && $broker->{h}->pumpable;
}
%wb = map { $_ => start_walbridged($node{$_}, $broker) } @names;
$node{$_}->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die "walbridged on $_ did not start" for @names;
sleep 2;

# staged: neither node sees the other's change before making its own
$_->stop for values %wb;
$node{a}->safe_psql('postgres', q{UPDATE documents SET body = repeat('body rewritten on a ', 9000) WHERE id = 1});
$node{a}->safe_psql('postgres', q{UPDATE documents SET doc = jsonb_build_object('v', repeat('k', 60000)) WHERE id = 2});
usleep(20_000);
$node{b}->safe_psql('postgres', q{UPDATE documents SET title = 'title set on b' WHERE id IN (1, 2, 4)});
%wb = map { $_ => start_walbridged($node{$_}, $broker) } @names;

ok(tables_converge('large values, whole rows', [ $node{a}, $node{b} ], ['documents']),
	'a and b hold the same documents');
my $which = q{SELECT string_agg(format('%s:%s:%s:%s', id, title, left(body, 13), left(doc->>'v', 1)), ' ' ORDER BY id) FROM documents};
is($node{a}->safe_psql('postgres', $which), '1:title set on b:original body:j 2:title set on b:original body:j 3:title 3:original body:j 4:title set on b:b body b body:',
	'b\'s later update won as a whole row, its unchanged large values included; the row a lacked arrived whole');
for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	is($node{$me}->safe_psql('postgres', qq{SELECT state FROM walbridge.status() WHERE peer = '$peer'}), 'running',
		"$me: nothing paused");
}

# Left as it was: b's title update of a row a lacks carries "unchanged"
# for the body, which is nowhere on a.  a pauses, naming it.  (The table
# is made on each node by hand, as this node's own change: walbridge
# would otherwise send it to the other, and adopt it under the sync's
# settings, REPLICA IDENTITY FULL.)
$node{$_}->safe_psql('postgres', q{
	SET walbridge.bookkeeping = on;
	CREATE TABLE notes (id integer PRIMARY KEY, title text, body text);
	ALTER TABLE notes ALTER body SET STORAGE EXTERNAL;}) for @names;
# a row only b has: written under a replication origin, as if applied
# from elsewhere, so b does not publish it (tables with a primary key are
# published from their first row)
$node{b}->safe_psql('postgres', q{
	SELECT pg_replication_origin_create('elsewhere');
	SELECT pg_replication_origin_session_setup('elsewhere');
	INSERT INTO notes VALUES (1, 'only on b', repeat('note body ', 9000));
	SELECT pg_replication_origin_session_reset();});
for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	$node{$me}->safe_psql('postgres', qq{SELECT walbridge.start_sync('{$peer}', snapshot => false, full_rows => false)});
}
is($node{b}->safe_psql('postgres', q{SELECT relreplident FROM pg_class WHERE oid = 'notes'::regclass}), 'd',
	'full_rows => false leaves the table as it is');
$_->stop for values %wb;
%wb = map { $_ => start_walbridged($node{$_}, $broker) } @names;
sleep 2;
$node{b}->safe_psql('postgres', q{UPDATE notes SET title = 'title set on b' WHERE id = 1});
ok($node{a}->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'b'}),
	'a pauses rather than insert the row without its body');
like($node{a}->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'b'}),
	qr/an UPDATE of public\.notes finds its row missing here, but it leaves body unchanged .*REPLICA IDENTITY FULL/,
	'a: status() names the table, the column and the fix');
is($node{a}->safe_psql('postgres', q{SELECT count(*) FROM notes}), '0', 'a: no row with a NULL body');

is($_->stop, 0, 'clean stop') for values %wb;
$broker->stop;
done_testing();
