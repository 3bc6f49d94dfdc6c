# Against a real Kafka broker (WALBRIDGE_KAFKA=real; the mock serves no
# CreateTopics): walbridged's create_topics = on path.  It creates its
# topic with one partition, with the broker's default replication factor
# (-1) or the one configured, and min.insync.replicas min(2, replication
# factor) (the broker's with -1), under its topic_prefix; a second start finds
# the topic there; a peer applies from a topic walbridged created.  What
# it cannot use is refused with the broker's reason, and it retries: a
# topic of three partitions, a replication factor the cluster cannot give,
# and with create_topics = off, a topic that does not exist (this broker
# creates none on a metadata request), until it is created.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

plan skip_all => 'needs a real Kafka broker: WALBRIDGE_KAFKA=real (test/run runs it so)'
  unless real_kafka();

my $broker = start_broker('other.c:partitions=3', { real => 1 });

my $a = walbridge_node('a');
my $b = walbridge_node('b');
for my $n ($a, $b)
{
	$n->safe_psql('postgres', q{CREATE TABLE t (id integer PRIMARY KEY, v text)});
}
$a->safe_psql('postgres', q{INSERT INTO t SELECT g, 'before ' || g FROM generate_series(1, 100) g});

# ---- walbridged creates its topic: the broker's default replication factor
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}');});
my $wa = start_walbridged($a, $broker, create_topics => 'on', replication_factor => -1);
ok($wa->wait_for_log(qr/created topic "walbridge\.a" with one partition/), 'A: walbridged created its topic');
$a->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die 'A: no initial copy';
my $desc = $broker->describe_topic('walbridge.a');
is($desc->{partitions}, 1, 'the topic has one partition');
is($desc->{replication_factor}, 1, 'and the broker default replication factor (-1 asked)');
is_deeply($desc->{config}, {}, 'and no topic config of its own: min.insync.replicas is the broker\'s too');
ok($wa->wait_for_log(qr/created topic "walbridge\.a" with one partition, replication factor the broker's default, min\.insync\.replicas the broker's default/),
	'A: the log says so');

# ---- and B, with replication_factor 1; B applies A from the topic A created
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}');});
my $wb = start_walbridged($b, $broker, create_topics => 'on', replication_factor => 1);
ok($wb->wait_for_log(qr/created topic "walbridge\.b" with one partition/), 'B: walbridged created its topic');
$desc = $broker->describe_topic('walbridge.b');
is($desc->{replication_factor}, 1, 'with replication factor 1, as configured');
is_deeply($desc->{config}, { 'min.insync.replicas' => '1' }, 'and min.insync.replicas min(2, 1) = 1');
$a->safe_psql('postgres', q{UPDATE t SET v = 'after ' || id WHERE id % 10 = 0; INSERT INTO t VALUES (101, 'new')});
ok(tables_converge('copy and changes', [ $a, $b ], ['t']), 'B applied the copy and the changes of A');

# ---- a second start finds the topic: nothing created, publishing goes on
is($wa->stop, 0, 'A: walbridged stops cleanly');
my $log_before = length $wa->log_contents;
$wa = start_walbridged($a, $broker, create_topics => 'on', replication_factor => -1);
$a->safe_psql('postgres', q{INSERT INTO t VALUES (102, 'after the restart')});
ok($b->poll_query_until('postgres', q{SELECT v = 'after the restart' FROM t WHERE id = 102}),
	'after a restart on the existing topic A publishes again, B applies it');
unlike(substr($wa->log_contents, $log_before), qr/created topic|could not create/,
	'the existing topic is taken as it is');
is($wa->stop, 0, 'A: walbridged stops cleanly');
is($wb->stop, 0, 'B: walbridged stops cleanly');

# ---- topic_prefix: node c's topic is "other.c", made with three partitions
my $c = walbridge_node('c');
$c->safe_psql('postgres', q{CREATE TABLE t (id integer PRIMARY KEY, v text);
	SELECT walbridge.create_node('c'); SELECT walbridge.start_sync('{}');});
my $wc = start_walbridged($c, $broker, create_topics => 'on', topic_prefix => 'other.');
ok($wc->wait_for_log(qr/topic "other\.c" has 3 partitions, but walbridge needs exactly one/),
	'a topic of three partitions is refused, named, with the reason');
ok($wc->alive, 'and walbridged stays up, to try again');
$wc->stop;

# ---- a replication factor one broker cannot give
my $log_mark = length $wc->log_contents;
$wc = start_walbridged($c, $broker, create_topics => 'on', topic_prefix => 'rf3.', replication_factor => 3);
ok($wc->wait_for_log(qr/could not create topic "rf3\.c": .*replicat/i),
	'replication factor 3 on one broker: refused with the broker\'s reason');
note(join "\n", grep { /could not create/ } split /\n/, substr($wc->log_contents, $log_mark));
$wc->stop;

# ---- create_topics = off: a missing topic is named and waited for
$log_mark = length $wc->log_contents;
$wc = start_walbridged($c, $broker, create_topics => 'off', topic_prefix => 'late.');
ok($wc->wait_for_log(qr/topic "late\.c" is not available: .*\(create_topics is off: create it with one partition\)/),
	'create_topics off and no topic: the error names it and says what to do');
$broker->create_topics('late.c');
$c->safe_psql('postgres', q{INSERT INTO t VALUES (1, 'once late.c exists')});
ok($c->poll_query_until('postgres', q{SELECT state = 'running' FROM walbridge.status() WHERE direction = 'publish'}),
	'once the topic is created walbridged publishes, without a restart');
ok(wait_slot_caught_up($c, 'walbridge_c'), 'C: everything written is published');
# in the initial copy or as a transaction, depending on when the slot was made
my @rows = grep { ref $_->{new} eq 'ARRAY' } map { @{ $_->{records} } } @{ dump_topic($broker, 'late.c') };
is_deeply([ map { $_->{new} } @rows ], [ [ 1, 'once late.c exists' ] ], 'the row written meanwhile is in the topic, once');
unlike(substr($wc->log_contents, $log_mark), qr/created topic/, 'walbridged created nothing');
is($wc->stop, 0, 'C: walbridged stops cleanly');

$broker->stop;
done_testing();
