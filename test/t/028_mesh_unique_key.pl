# Two nodes insert different primary keys with the same value of a
# secondary unique key (an email): neither row is dropped and neither
# node keeps only its own while the other keeps both.  Each node pauses
# applying the other at that insert, names the constraint and the key in
# status(), and records the conflict (unique_conflict, decision pause).
# After the operator's fix (one of the two rows removed where it was
# written, and the other node told to pass over the insert it can never
# apply) both nodes hold the same rows.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my @names = qw(a b);
my $broker = start_broker(map { "walbridge.$_" } @names);
my %node = map { $_ => walbridge_node("uniq_$_") } @names;
for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	$node{$me}->safe_psql('postgres', qq{
		CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL UNIQUE, name text);
		INSERT INTO users VALUES (1, 'one\@example.com', 'seed');
		SELECT walbridge.create_node('$me');
		SELECT walbridge.start_sync('{$peer}', snapshot => false);});
}
my %wb = map { $_ => start_walbridged($node{$_}, $broker) } @names;
$node{$_}->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die "walbridged on $_ did not start" for @names;
sleep 2;	# consumers at the topics' ends

# The race: both insert before either sees the other's row.
$_->stop for values %wb;
$node{a}->safe_psql('postgres', q{INSERT INTO users VALUES (10, 'same@example.com', 'from a')});
$node{b}->safe_psql('postgres', q{INSERT INTO users VALUES (20, 'same@example.com', 'from b')});
$node{a}->safe_psql('postgres', q{INSERT INTO users VALUES (11, 'after-a@example.com', 'from a')});
$node{b}->safe_psql('postgres', q{INSERT INTO users VALUES (21, 'after-b@example.com', 'from b')});
%wb = map { $_ => start_walbridged($node{$_}, $broker) } @names;

for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	ok($node{$me}->poll_query_until('postgres', qq{SELECT state = 'paused' FROM walbridge.status() WHERE peer = '$peer'}),
		"$me pauses applying $peer");
	like($node{$me}->safe_psql('postgres', qq{SELECT last_error FROM walbridge.status() WHERE peer = '$peer'}),
		qr/conflict: the INSERT row collides in public\.users with another row on a unique key \(duplicate key value violates unique constraint "users_email_key": Key \(email\)=\(same\@example\.com\) already exists\.\)/,
		"$me: status() names the constraint and the key");
	is($node{$me}->safe_psql('postgres', q{SELECT string_agg(kind || '/' || decision || '/' || (remote_row->>'id'), ',') FROM walbridge.conflicts}),
		'unique_conflict/pause/' . ($me eq 'a' ? '20' : '10'), "$me: the conflict is recorded, with the other node's row");
	is($node{$me}->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM users}),
		$me eq 'a' ? '1,10,11' : '1,20,21', "$me: its own rows untouched, nothing after the conflict applied");
}

# The fix: b's row goes (on b, published to a), and a passes over b's
# insert of it, which can never apply there.
$node{b}->safe_psql('postgres', q{DELETE FROM users WHERE id = 20});
$node{a}->safe_psql('postgres', q{SELECT walbridge.skip('b')});
ok(tables_converge('after the fix', [ $node{a}, $node{b} ], ['users']), 'both nodes hold the same rows');
is($node{a}->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM users}), '1,10,11,21',
	'a\'s row kept, every other row arrived');
for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	is($node{$me}->safe_psql('postgres', qq{SELECT state FROM walbridge.status() WHERE peer = '$peer'}), 'running',
		"$me applies $peer again");
}

is($_->stop, 0, 'clean stop') for values %wb;
$broker->stop;
done_testing();
