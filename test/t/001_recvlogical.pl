# pg_recvlogical as a debugging tool for a walbridge slot: the text and
# json formats over the replication protocol, a bare option name meaning
# true, and an unknown option refused with its name.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $node = walbridge_node('recv');
my $connstr = $node->connstr('postgres');

$node->safe_psql('postgres', q{
	-- pg_recvlogical confirms what it read: one slot per run below
	SELECT walbridge.create_slot('dbg_' || n) FROM generate_series(1, 4) AS n;
	CREATE TABLE t (id integer PRIMARY KEY, v text);
	INSERT INTO t VALUES (1, 'one'), (2, 'two');
	UPDATE t SET v = 'uno' WHERE id = 1;
	SELECT pg_replication_origin_create('peer');
});
# A transaction applied under an origin, as walbridge's apply side does.
$node->safe_psql('postgres', q{
	SELECT pg_replication_origin_session_setup('peer');
	INSERT INTO t VALUES (3, 'from peer');
});
$node->safe_psql('postgres', q{DELETE FROM t WHERE id = 2});
my $endpos = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');

sub recvlogical
{
	my ($slot, @options) = @_;
	my ($stdout, $stderr);
	my $ok = IPC::Run::run(
		[ 'pg_recvlogical', '-d', $connstr, '--slot', $slot, '--start',
		  '--endpos', $endpos, '--no-loop', '-f', '-', @options ],
		'>', \$stdout, '2>', \$stderr);
	return ($ok, $stdout, $stderr);
}

my ($ok, $out, $err) = recvlogical('dbg_1', '-o', 'format=text');
ok($ok, 'pg_recvlogical streams the text format') or diag($err);
my @lines = split /\n/, $out;
like($lines[0], qr/^BEGIN \d+ commit_lsn [0-9A-F]+\/[0-9A-F]+ commit_time /, 'first line is BEGIN');
like($out, qr/^RELATION public\.t \(relid \d+, replica identity default\): id\[integer\] identity primary-key, v\[text\]$/m,
	'RELATION line describes the table');
like($out, qr/^table public\.t: INSERT: id\[integer\]:1 v\[text\]:'one'$/m, 'INSERT line');
like($out, qr/^table public\.t: UPDATE: new-tuple: id\[integer\]:1 v\[text\]:'uno'$/m, 'UPDATE line');
like($out, qr/^table public\.t: DELETE: old-key: id\[integer\]:2$/m, 'DELETE line');
like($out, qr/^BEGIN \d+ .* origin peer \(id 1, lsn 0\/0\)$/m, 'the origin is named in BEGIN');
is(scalar(grep { /^COMMIT / } @lines), 4, 'four transactions with changes, four COMMITs');

# -o only_local, a bare option name, means only_local=true.
($ok, $out, $err) = recvlogical('dbg_2', '-o', 'format=text', '-o', 'only_local');
ok($ok, 'bare only_local accepted') or diag($err);
unlike($out, qr/from peer/, 'only_local drops the transaction that has an origin');
like($out, qr/DELETE: old-key: id\[integer\]:2/, 'only_local keeps local changes');

# json: one JSON object per line.
($ok, $out, $err) = recvlogical('dbg_3', '-o', 'format=json');
ok($ok, 'pg_recvlogical streams the json format') or diag($err);
my @json = grep { length } split /\n/, $out;
is(scalar(grep { /^\{"kind": "(begin|relation|insert|update|delete|commit)"/ } @json),
	scalar(@json), 'every json line is a record');

# An unknown option over the replication protocol: refused, named.
($ok, $out, $err) = recvlogical('dbg_4', '-o', 'formt=text');
ok(!$ok, 'unknown option fails');
like($err, qr/option "formt" = "text" is unknown/, 'the error names the option');

$node->stop;
done_testing();
