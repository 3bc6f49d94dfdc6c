# walbridged, publish half: a mixed workload reaches the topic complete, in
# commit order, decodable, self-contained per message; rolled-back
# transactions never appear; the initial copy comes first; an idle slot
# follows the server; SIGTERM stops cleanly; passwords stay out of logs.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $node = walbridge_node('pub');
my $broker = start_broker('walbridge.a');

$node->safe_psql('postgres', q{
	SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}');
	CREATE TABLE pre (id integer PRIMARY KEY, v text);
	INSERT INTO pre SELECT g, 'existing ' || g FROM generate_series(1, 2500) g;
	CREATE TABLE t1 (id integer PRIMARY KEY, v text);
	CREATE TABLE t2 (id integer PRIMARY KEY, t1_id integer REFERENCES t1, n numeric);
	CREATE TABLE t3 (id integer PRIMARY KEY, b bytea);
	CREATE TABLE not_published (x integer);
	CREATE DATABASE other;
});

my $wb = start_walbridged($node, $broker, chunk_size => '16kB',
	conninfo => $node->connstr('postgres') . ' password=s3cret-pw');
$node->poll_query_until('postgres',
	'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die 'walbridged did not finish the initial copy';

# A change to a table after the copy started: it must come after the copy.
my @committed;
my @rolled_back;

sub txn
{
	my ($sql) = @_;
	my $out = $node->safe_psql('postgres', "BEGIN; $sql; SELECT txid_current(); COMMIT;");
	push @committed, (split /\n/, $out)[-1];
}

sub aborted
{
	my ($sql) = @_;
	my $out = $node->safe_psql('postgres', "BEGIN; $sql; SELECT txid_current(); ROLLBACK;");
	push @rolled_back, (split /\n/, $out)[-1];
}

txn(q{UPDATE pre SET v = 'changed after copy' WHERE id = 1});
txn(q{INSERT INTO t1 SELECT g, 'v' || g FROM generate_series(1, 10) g});
txn(q{INSERT INTO t2 VALUES (1, 1, 1.5), (2, 2, 'NaN')});
aborted(q{INSERT INTO t1 VALUES (100, 'never')});
txn(q{UPDATE t1 SET v = 'updated' WHERE id <= 5});
txn(q{INSERT INTO t3 SELECT g, decode(md5(g::text), 'hex') FROM generate_series(1, 50) g});
txn(q{DELETE FROM t2 WHERE id = 2});
aborted(q{DELETE FROM t3});
txn(q{TRUNCATE t3});
txn(q{INSERT INTO not_published VALUES (1); INSERT INTO t1 VALUES (11, 'beside an unpublished table')});
# a large transaction: several chunks of at most 16kB
txn(q{INSERT INTO t1 SELECT g, repeat('x', 50) || g FROM generate_series(1000, 5999) g});
txn(q{UPDATE t1 SET id = id + 10000 WHERE id = 3});
txn(q{SELECT pg_logical_emit_message(true, 'app', 'hello')});
aborted(q{INSERT INTO t3 VALUES (1, '\x00')});
txn(q{DELETE FROM t1 WHERE id >= 1000});

# Writes in another database: nothing for this slot, yet it must advance.
$node->safe_psql('other', 'CREATE TABLE elsewhere (x int); INSERT INTO elsewhere SELECT generate_series(1, 1000)');

ok(wait_slot_caught_up($node, 'walbridge_a'),
	'the slot confirms everything, including WAL of another database');

my $messages = dump_topic($broker, 'walbridge.a');
ok(scalar(@$messages) > 0, 'the topic has messages, and every one decodes');

# The initial copy comes first, all of it.
my @kinds = map { $_->{headers}{'wb.kind'} } @$messages;
my $first_txn = (grep { $kinds[$_] eq 'txn' } 0 .. $#kinds)[0];
ok(!grep({ $_ eq 'snapshot' } @kinds[ $first_txn .. $#kinds ]),
	'every snapshot message precedes the first transaction');
my @snapshot_rows = map { grep { $_->{tag} eq 'SNAPSHOT' } @{ $_->{records} } }
  grep { $_->{headers}{'wb.kind'} eq 'snapshot' } @$messages;
is(scalar(@snapshot_rows), 2500, 'the copy has every existing row');
my @snapshot_tables = map { $_->{headers}{'wb.table'} }
  grep { $_->{headers}{'wb.kind'} eq 'snapshot' && $_->{headers}{'wb.last'} eq '1' } @$messages;
is_deeply([ sort @snapshot_tables ], [qw(public.pre public.t1 public.t2 public.t3)],
	'the copy covers every table with a primary key, and only those');

# Transactions: exactly the committed ones, in commit order.
my $txns = topic_transactions($messages);
is_deeply([ map { $_->{xid} } @$txns ], \@committed,
	'the topic holds exactly the committed transactions, in commit order');
my %in_topic = map { $_->{xid} => 1 } @$txns;
ok(!grep({ $in_topic{$_} } @rolled_back), 'no rolled-back transaction appears');

my @lsns = map { my ($h, $l) = split m{/}, $_->{commit_lsn}; hex($h) * 2**32 + hex($l) } @$txns;
ok(!grep({ $lsns[$_] <= $lsns[ $_ - 1 ] } 1 .. $#lsns), 'commit LSNs increase');

my ($big) = grep { scalar(@{ $_->{records} }) == 5000 } @$txns;
ok($big, 'the 5000-row transaction arrives whole');
cmp_ok($big->{chunks}, '>', 5, "in $big->{chunks} chunks of at most chunk_size");
ok(!grep({ $_->{bytes} > 16 * 1024 + 1024 } @$messages), 'no message is much over chunk_size');

my ($first_change) = @{ $txns->[0]{records} };
is_deeply($first_change->{new}, [ 1, 'changed after copy' ],
	'the first streamed change is the update made after the copy');
ok(scalar(grep { $_->{tag} eq 'TRUNCATE' } map { @{ $_->{records} } } @$txns), 'TRUNCATE published');
ok(scalar(grep { $_->{tag} eq 'MESSAGE' } map { @{ $_->{records} } } @$txns), 'MESSAGE published');

# Every message is self-contained: a RELATION for each table it changes.
my $orphans = 0;
for my $m (@$messages)
{
	my %described = map { $_->{relid} => 1 } grep { $_->{tag} eq 'RELATION' } @{ $m->{records} };
	$orphans += grep { defined $_->{relid} && $_->{tag} ne 'RELATION' && !$described{ $_->{relid} } }
	  @{ $m->{records} };
	$orphans++ if $m->{headers}{'wb.kind'} eq 'txn' && $m->{records}[0]{tag} ne 'BEGIN';
}
is($orphans, 0, 'every message starts with BEGIN and describes every table it changes');

# SIGHUP rereads the configuration file (and a broken one is refused).
my $conf = $node->basedir . '/walbridged.conf';
PostgreSQL::Test::Utils::append_to_file($conf, "log_level = 'debug'\n");
kill 'HUP', $wb->pid;
ok($wb->wait_for_log(qr/configuration reloaded/), 'SIGHUP reloads the configuration');
$node->safe_psql('postgres', q{INSERT INTO t1 VALUES (12, 'after reload')});
ok(wait_slot_caught_up($node, 'walbridge_a'), 'streaming goes on after the reload');
PostgreSQL::Test::Utils::append_to_file($conf, "no_such_key = 1\n");
kill 'HUP', $wb->pid;
ok($wb->wait_for_log(qr/unknown configuration key "no_such_key".*\n.*keeping the previous configuration/),
	'a broken file is refused with its error, the old configuration stays');
ok($wb->alive, 'and walbridged keeps running');

# Clean stop.
is($wb->stop, 0, 'SIGTERM: walbridged exits 0');
my $log = $wb->log_contents;
like($log, qr/stopped: published \d+ transactions .* confirmed/, 'it says what it published and confirmed');
unlike($log, qr/s3cret-pw/, 'the password never appears in the log');
like($log, qr/password=\*\*\*/, 'the conninfo is logged redacted');

# Without a node name, walbridged refuses to start, saying what to do.
my $bare = walbridge_node('bare');
my $refused = start_walbridged($bare, $broker);
is($refused->signal_and_wait(0), 1, 'no node name: exit status 1');
like($refused->log_contents, qr/walbridge\.create_node/, 'the error says to call create_node');

$broker->stop;
done_testing();
