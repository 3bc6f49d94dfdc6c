# A transaction in chunks is never committed in part.  A producer that
# restarts inside a transaction leaves its first chunks in the topic, then
# whatever its slot replays first (a non-transactional message, a table
# copy), then the whole transaction again: the part is rolled back, not
# committed with what follows, and the whole copy is applied once.  Chunks
# out of sequence, or a chunk without the ones before it, pause with the
# problem named, and walbridge.skip() passes over that transaction.
#
# Peer "x" is this test: it writes crafted messages into walbridge.x with
# kcat, as 033_hostile_producer does, and B applies them.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $broker = start_broker('walbridge.x', 'walbridge.b', { mock => 1 });
my $b = walbridge_node('b');
$b->safe_psql('postgres', q{CREATE TABLE t (id integer PRIMARY KEY, v text)});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{x}')});
my $wb = start_walbridged($b, $broker);
# x's topic is empty when b first looks: all of it is to come, read from 0
# (a topic that holds transactions but no initial copy would be read from
# its end, with a copy asked for)
$wb->wait_for_log(qr/applying node "x" from topic walbridge\.x offset 0/)
  or die 'b did not start applying x at offset 0';

# msgpack, by hand: just what these records need (no byte 0x0a: kcat -P
# splits its input into messages at newlines)
sub str { my ($s) = @_; return pack('C', 0xa0 | length($s)) . $s; }
sub arr { return pack('C', 0x90 | scalar(@_)) . join('', @_); }
sub uint { return pack('CN', 0xce, $_[0]); }
sub fix { return pack('C', $_[0]); }

# RELATION [R, relid, schema, table, replica identity, [[name, oid, type, typmod, flags]...]]
my $relation = arr(fix(ord 'R'), uint(16400), str('public'), str('t'), fix(ord 'd'),
	arr(arr(str('id'), fix(23), str('integer'), fix(0xff), fix(3)),
		arr(str('v'), fix(25), str('text'), fix(0xff), fix(0))));
# INSERT [I, relid, new]; SNAPSHOT [S, relid, new] (no commit time: the oldest)
sub insert { return $relation . arr(fix(ord 'I'), uint(16400), arr(fix($_[0]), str($_[1]))); }
sub snapshot_row { return $relation . arr(fix(ord 'S'), uint(16400), arr(fix($_[0]), str($_[1]))); }

my $next_offset = 0;
sub produce
{
	my ($payload, %headers) = @_;
	my %h = ('wb.node' => 'x', 'wb.format' => '1', %headers);
	my ($out, $err);
	IPC::Run::run([ 'kcat', '-b', $broker->bootstraps, '-t', 'walbridge.x', '-p', '0', '-P',
		map { ('-H', "$_=$h{$_}") } sort keys %h ], '<', \$payload, '>', \$out, '2>', \$err)
	  or die "kcat: $err";
	return $next_offset++;
}

# chunk $chunk of transaction $xid (commit 0/$lsn), $last if it ends it
sub chunk
{
	my ($xid, $lsn, $chunk, $last, $payload) = @_;
	return produce($payload, 'wb.kind' => 'txn', 'wb.xid' => $xid,
		'wb.commit_lsn' => sprintf('0/%X', $lsn), 'wb.commit_time' => '1700000000000000',
		'wb.chunk' => $chunk, 'wb.last' => $last ? '1' : '0');
}

sub applied_to
{
	my ($offset) = @_;
	return $b->poll_query_until('postgres',
		"SELECT kafka_offset >= $offset FROM walbridge.apply_progress WHERE peer = 'x'");
}

sub rows { return $b->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM t}); }

sub conflicts
{
	return $b->safe_psql('postgres', q{SELECT conflicts FROM walbridge.apply_progress WHERE peer = 'x'});
}

# ---- a transaction cut short by a restart, a non-transactional message, the transaction whole
chunk(100, 0x1000, 0, 0, insert(1, 'x1'));
chunk(100, 0x1000, 1, 0, insert(2, 'x2'));
my $m = produce(arr(), 'wb.kind' => 'message', 'wb.chunk' => '0', 'wb.last' => '1');
ok(applied_to($m), 'the non-transactional message after the part is applied');
is(rows(), '', 'the part before it is not committed with it');
like($wb->log_contents, qr/dropped incomplete xid 100 \(commit 0\/1000, topic walbridge\.x offset 0, chunks 0 to 1\): a non-transactional message came at offset 2/,
	'the log says the part was dropped, and why');
chunk(100, 0x1000, 0, 0, insert(1, 'x1'));
chunk(100, 0x1000, 1, 0, insert(2, 'x2'));
my $end = chunk(100, 0x1000, 2, 1, insert(3, 'x3'));
ok(applied_to($end), 'the whole transaction after it is applied');
is(rows(), '1,2,3', 'all of it, once');
is(conflicts(), '0', 'without a conflict: nothing of it was there before');

# ---- the same with a table copy in between (a slot made again)
chunk(101, 0x2000, 0, 0, insert(14, 'y14'));
my $s = produce(snapshot_row(15, 'copied'), 'wb.kind' => 'snapshot', 'wb.table' => 'public.t',
	'wb.chunk' => '0', 'wb.last' => '1');
ok(applied_to($s), 'the copy after a part is applied');
is(rows(), '1,2,3,15', 'its row, and nothing of the part');
chunk(101, 0x2000, 0, 0, insert(14, 'y14'));
$end = chunk(101, 0x2000, 1, 1, insert(16, 'y16'));
ok(applied_to($end), 'the whole transaction after the copy is applied');
is(rows(), '1,2,3,14,15,16', 'all of it');

# ---- a part, then another transaction's first chunk: the part is dropped too
chunk(102, 0x3000, 0, 0, insert(20, 'dropped'));
$end = chunk(103, 0x3100, 0, 1, insert(21, 'z21'));
ok(applied_to($end), 'a transaction after a part is applied');
is(rows(), '1,2,3,14,15,16,21', 'without the part');

# ---- chunks out of sequence: paused at the transaction's first, skip() passes over all of it
my $first = chunk(104, 0x4000, 0, 0, insert(30, 'w30'));
my $bad = chunk(104, 0x4000, 2, 1, insert(31, 'w31'));
ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'x'}),
	'chunks out of sequence: apply pauses');
my $error = $b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'x'});
like($error,
	qr/topic walbridge\.x offset $first: xid 104 \(commit 0\/4000\): chunk 2 at offset $bad where chunk 1 was expected/,
	'status() names the transaction, the chunk out of sequence and the one expected');
is(rows(), '1,2,3,14,15,16,21', 'nothing of it is applied');
$b->safe_psql('postgres', q{SELECT walbridge.skip('x')});
$end = chunk(105, 0x4100, 0, 1, insert(32, 'after'));
ok(applied_to($end), 'after skip() the next transaction is applied');
is(rows(), '1,2,3,14,15,16,21,32', 'and nothing of the one skipped');
is($b->safe_psql('postgres', "SELECT kafka_offset FROM walbridge.skipped WHERE peer = 'x'"), $first,
	'the skip is recorded at its first chunk');

# ---- a chunk without the ones before it: skip() passes over the rest of its transaction
my $orphan = chunk(106, 0x5000, 1, 0, insert(40, 'v40'));
chunk(106, 0x5000, 2, 1, insert(41, 'v41'));
ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'x'}),
	'a chunk without the chunks before it: apply pauses');
like($b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'x'}),
	qr/offset $orphan: chunk 1 of xid 106 arrived without the chunks before it/, 'named');
$b->safe_psql('postgres', q{SELECT walbridge.skip('x')});
$end = chunk(107, 0x5100, 0, 1, insert(42, 'after'));
ok(applied_to($end), 'after skip() the next transaction is applied');
is(rows(), '1,2,3,14,15,16,21,32,42', 'and nothing of the one skipped');
is($b->safe_psql('postgres', q{SELECT state FROM walbridge.status() WHERE peer = 'x'}), 'running',
	'apply runs');

is($wb->stop, 0, 'walbridged stops cleanly');
$broker->stop;
done_testing();
