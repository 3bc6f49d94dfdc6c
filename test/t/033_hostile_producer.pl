# A producer that writes into a peer's topic what walbridged never would:
# garbage, truncated msgpack, a valid record for a table this node lacks, a
# record from a future format version, an old tuple that does not match
# the relation.  Each time apply pauses with an error naming the topic, the
# offset and the problem; nothing after it is applied; walbridge.skip()
# records it and passes over it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $broker = start_broker('walbridge.a', 'walbridge.b');
my $a = walbridge_node('a');
my $b = walbridge_node('b');
$_->safe_psql('postgres', q{CREATE TABLE t (id integer PRIMARY KEY, v text)}) for ($a, $b);
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}')});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}')});
my $wa = start_walbridged($a, $broker);
my $wb = start_walbridged($b, $broker);

$a->safe_psql('postgres', q{INSERT INTO t VALUES (1, 'before')});
ok($b->poll_query_until('postgres', q{SELECT count(*) = 1 FROM t}), 'sync runs');

# msgpack, by hand: just what these records need
sub str { my ($s) = @_; return pack('C', 0xa0 | length($s)) . $s; }
sub arr { return pack('C', 0x90 | scalar(@_)) . join('', @_); }
sub uint { return pack('CN', 0xce, $_[0]); }
sub fix { return pack('C', $_[0]); }

# RELATION [R, relid, schema, table, replica identity, [[name, oid, type, typmod, flags]...]]
sub relation
{
	my ($relid, $table) = @_;
	return arr(fix(ord 'R'), uint($relid), str('public'), str($table), fix(ord 'd'),
		arr(arr(str('id'), fix(23), str('integer'), fix(0xff), fix(3)),
			arr(str('v'), fix(25), str('text'), fix(0xff), fix(0))));
}
my $insert_nope = relation(90001, 'nope') . arr(fix(ord 'I'), uint(90001), arr(fix(7), str('x')));
# DELETE [D, relid, old_kind, old]: two old values where t has one identity column
my $bad_delete = relation(90002, 't') . arr(fix(ord 'D'), uint(90002), fix(ord 'k'), arr(fix(1), fix(2)));
my $truncated = substr(relation(90003, 't'), 0, 20);

my $lsn = 0xF000;
sub produce
{
	my ($payload, %headers) = @_;
	my %h = ('wb.kind' => 'txn', 'wb.format' => '1', 'wb.xid' => '1',
		'wb.commit_lsn' => sprintf('FFFF/%X', $lsn++), 'wb.commit_time' => '0', 'wb.chunk' => '0', 'wb.last' => '1',
		%headers);
	delete $h{$_} for grep { !defined $h{$_} } keys %h;
	my ($out, $err);
	IPC::Run::run([ 'kcat', '-b', $broker->bootstraps, '-t', 'walbridge.a', '-p', '0', '-P',
		map { ('-H', "$_=$h{$_}") } sort keys %h ], '<', \$payload, '>', \$out, '2>', \$err)
	  or die "kcat: $err";
}

my $after = 100;
sub case
{
	my ($what, $payload, $expect, %headers) = @_;
	produce($payload, %headers);
	$a->safe_psql('postgres', "INSERT INTO t VALUES ($after, 'after: $what')");
	ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'a'}),
		"$what: apply pauses");
	my $error = $b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'a'});
	like($error, qr/topic walbridge\.a offset \d+: .*$expect/, "$what: status() names topic, offset and problem");
	like($wb->log_contents, qr/paused at topic walbridge\.a offset \d+: .*$expect/, "$what: so does the log");
	is($b->safe_psql('postgres', "SELECT count(*) FROM t WHERE id = $after"), '0', "$what: nothing after it is applied");
	my $skips = $b->safe_psql('postgres', q{SELECT count(*) FROM walbridge.skipped});
	$b->safe_psql('postgres', q{SELECT walbridge.skip('a')});
	ok($b->poll_query_until('postgres', "SELECT count(*) = 1 FROM t WHERE id = $after"),
		"$what: after skip() the next transaction is applied");
	is($b->safe_psql('postgres', q{SELECT count(*) FROM walbridge.skipped}), $skips + 1, "$what: the skip is recorded");
	$after++;
}

case('garbage', "\xc1\xc1 not msgpack", 'does not decode');
case('truncated msgpack', $truncated, 'does not decode');
case('a table this node lacks', $insert_nope, 'table public\.nope does not exist on this node');
case('a future format version', arr(fix(ord 'C')), q{format version is 2, this walbridged reads 1}, 'wb.format' => '2');
case('an old tuple that does not match', $bad_delete, 'has 2 old values for 1 identity columns');
case('no wb.kind header', 'anything', 'no wb\.kind header', 'wb.kind' => undef);
case('an unknown kind', 'anything', 'unknown message kind "future"', 'wb.kind' => 'future');

is($b->safe_psql('postgres', q{SELECT count(*) FROM t}), $a->safe_psql('postgres', q{SELECT count(*) FROM t}),
	'B has every row A wrote');
$wa->stop;
$wb->stop;
$broker->stop;
done_testing();
