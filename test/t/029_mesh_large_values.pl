# Large values under last writer wins, with the documented workaround
# (docs/RELIABILITY.md, Known limits): REPLICA IDENTITY FULL on a table
# with values stored out of line.  Node a rewrites a document's large
# body; node b, later, changes only its title.  The update from b carries
# the body it left alone whole (from the old row the server logs under
# FULL), so b's whole row wins on both nodes: the same title and the same
# body everywhere, b's.
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
		ALTER TABLE documents REPLICA IDENTITY FULL;
		INSERT INTO documents SELECT g, 'title ' || g, repeat('original body ' || g || ' ', 8000),
			jsonb_build_object('v', repeat('j', 50000)) FROM generate_series(1, 3) g;
		SELECT walbridge.create_node('$me');
		SELECT walbridge.start_sync('{$peer}', snapshot => false);});
}
my %wb = map { $_ => start_walbridged($node{$_}, $broker) } @names;
$node{$_}->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die "walbridged on $_ did not start" for @names;
sleep 2;

# staged: neither node sees the other's change before making its own
$_->stop for values %wb;
$node{a}->safe_psql('postgres', q{UPDATE documents SET body = repeat('body rewritten on a ', 9000) WHERE id = 1});
$node{a}->safe_psql('postgres', q{UPDATE documents SET doc = jsonb_build_object('v', repeat('k', 60000)) WHERE id = 2});
usleep(20_000);
$node{b}->safe_psql('postgres', q{UPDATE documents SET title = 'title set on b' WHERE id IN (1, 2)});
%wb = map { $_ => start_walbridged($node{$_}, $broker) } @names;

ok(tables_converge('large values, whole rows', [ $node{a}, $node{b} ], ['documents']),
	'a and b hold the same documents');
my $which = q{SELECT string_agg(format('%s:%s:%s:%s', id, title, left(body, 13), left(doc->>'v', 1)), ' ' ORDER BY id) FROM documents};
is($node{a}->safe_psql('postgres', $which), '1:title set on b:original body:j 2:title set on b:original body:j 3:title 3:original body:j',
	'b\'s later update won as a whole row, its unchanged large values included');
for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	is($node{$me}->safe_psql('postgres', qq{SELECT state FROM walbridge.status() WHERE peer = '$peer'}), 'running',
		"$me: nothing paused");
}
is($_->stop, 0, 'clean stop') for values %wb;
$broker->stop;
done_testing();
