# walbridged dump: a node's topic as JSON lines (each change with its table
# and its values by column name), --from (an offset, end, the last N),
# --count, --follow until SIGTERM, -c with walbridged's configuration file,
# a message that is not walbridge's (its value as a string, a tombstone as
# null), one that does not decode (exit status 1, the dump goes on), and
# an offset that is gone (exit status 2, never skipped).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use WalbridgeTest;

my $node = walbridge_node('dump');
my $broker = start_broker('walbridge.a', 'other');
my $b = $broker->bootstraps;
my $json = JSON::PP->new;

$node->safe_psql('postgres', q{
	CREATE TABLE items (id integer PRIMARY KEY, label text, at timestamptz);
	SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}', snapshot => false);});
my $wb = start_walbridged($node, $broker, heartbeat_interval => 0);
$node->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die 'walbridged did not start';
$node->safe_psql('postgres', q{INSERT INTO items VALUES (1, 'one "quoted"', '2026-12-01 10:00+00')});
$node->safe_psql('postgres', q{UPDATE items SET label = 'uno' WHERE id = 1});
$node->safe_psql('postgres', q{DELETE FROM items WHERE id = 1});
ok(wait_for_messages(3), 'three transactions in the topic');

sub dump_lines
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'walbridged', 'dump', @args ], '>', \$out, '2>', \$err);
	return ($? >> 8, [ map { $json->decode($_) } grep { length } split /\n/, $out ], $err);
}

sub wait_for_messages
{
	my ($n) = @_;
	for (1 .. 100)
	{
		my (undef, $lines) = dump_lines('-b', $b, 'walbridge.a');
		return 1 if @$lines >= $n;
		sleep 0.1;
	}
	return 0;
}

my ($rc, $lines, $err) = dump_lines('-b', $b, 'walbridge.a');
is($rc, 0, 'the whole topic: exit status 0');
is(scalar(@$lines), 3, 'one line per message');
is_deeply([ map { $_->{offset} } @$lines ], [ 0, 1, 2 ], 'with their offsets');
is($lines->[0]{headers}{'wb.node'}, 'a', 'and their headers');
is($lines->[0]{key}, 'a', 'and their keys');
my @changes = map { my $m = $_; grep { $_->{tag} =~ /^(INSERT|UPDATE|DELETE)$/ } @{ $m->{records} } } @$lines;
is(join(' ', map { $_->{tag} } @changes), 'INSERT UPDATE DELETE', 'the changes, decoded');
is($changes[0]{table}, 'public.items', 'a change names its table');
is($changes[0]{new_columns}{label}, 'one "quoted"', 'and gives its values by column name');
ok(exists $changes[0]{new_columns}{at}{timestamptz}, 'a timestamp as microseconds since 2000');
is_deeply($changes[0]{new}, [ 1, 'one "quoted"', $changes[0]{new_columns}{at} ], 'and in column order');
is($changes[2]{old_columns}{id}, 1, 'a delete\'s key by name');
my ($relation) = grep { $_->{tag} eq 'RELATION' } @{ $lines->[0]{records} };
is(join(',', map { "$_->{name}:$_->{type}:" . ($_->{key} ? 'key' : '') } @{ $relation->{columns} }),
	'id:integer:key,label:text:,at:timestamp with time zone:', 'a RELATION lists its columns');

($rc, $lines) = dump_lines('-b', $b, 'walbridge.a', '--from', '-1');
is(join(',', map { $_->{offset} } @$lines), '2', '--from -1: the last message');
($rc, $lines) = dump_lines('-b', $b, 'walbridge.a', '--from', '1', '--count', '1');
is(join(',', map { $_->{offset} } @$lines), '1', '--from 1 --count 1');
($rc, $lines) = dump_lines('-b', $b, 'walbridge.a', '--from', 'end');
is(scalar(@$lines), 0, '--from end: nothing');
is($rc, 0, 'and exit status 0');

# -c: walbridged's configuration file gives the brokers (and kafka.*)
my $conf = $node->basedir . '/dump.conf';
open my $fh, '>', $conf or die;
print $fh "brokers = '$b'\nkafka.client.id = 'dump-test'\n";
close $fh;
($rc, $lines) = dump_lines('-c', $conf, 'walbridge.a', '--count', '1');
is(scalar(@$lines) . " $rc", '1 0', '-c takes the brokers from the configuration file');
($rc, $lines, $err) = dump_lines('walbridge.a');
is($rc, 2, 'no brokers: exit status 2');
like($err, qr/no Kafka brokers given/, 'said');

# --follow: what arrives later is printed, until SIGTERM
my ($out, $ferr) = ('', '');
my $follow = IPC::Run::start([ 'walbridged', 'dump', '-b', $b, 'walbridge.a', '--from', 'end', '--follow' ],
	'>', \$out, '2>', \$ferr);
sleep 2;
$node->safe_psql('postgres', q{INSERT INTO items VALUES (2, 'later', NULL)});
my $deadline = time + 30;
$follow->pump_nb, sleep 0.1 until $out =~ /"later"/ || time > $deadline;
like($out, qr/"later"/, '--follow prints a message that arrives later');
$follow->signal('TERM');
$follow->finish;
is(($follow->full_results)[0], 0, 'and stops on SIGTERM with exit status 0');

# messages that are not walbridge's records
IPC::Run::run([ 'kcat', '-b', $b, '-t', 'other', '-P', '-k', 'k1' ], '<', \"plain text", '>', \my $o1, '2>', \my $e1);
IPC::Run::run([ 'kcat', '-b', $b, '-t', 'other', '-P', '-H', 'wb.format=1' ], '<', \"not msgpack", '>', \my $o2, '2>', \my $e2);
IPC::Run::run([ 'kcat', '-b', $b, '-t', 'other', '-P', '-k', 'after' ], '<', \"after the bad one", '>', \my $o3, '2>', \my $e3);
($rc, $lines) = dump_lines('-b', $b, 'other');
is($lines->[0]{value}, 'plain text', 'a message without wb.format: its value as a string');
ok(defined $lines->[1]{error}, 'a walbridge message that does not decode: printed with its error');
is($lines->[2]{value}, 'after the bad one', 'and the dump goes on');
is($rc, 1, 'exit status 1');

# an offset beyond the end is said, not skipped
($rc, $lines, $err) = dump_lines('-b', $b, 'walbridge.a', '--from', '100');
is($rc, 2, 'an offset that is not there: exit status 2');
like($err, qr/Offset out of range/i, 'said');

is($wb->stop, 0, 'walbridged stops cleanly');
$broker->stop;
done_testing();
