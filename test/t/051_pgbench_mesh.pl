# pgbench's own schema, foreign keys included, through bidirectional sync:
# E and F are both initialized the same way (pgbench -i -I dtGvpf, scale
# 1: its data is deterministic, so both start identical) and
# pgbench_history gets a primary key, its sequence interleaved (odd on E,
# even on F).  Both start sync with the other as peer, without an initial
# copy, and run pgbench's TPC-B-like load at the same time.  Then every
# table is identical on both, every history row arrived exactly once,
# nothing paused, and every conflict is explained: both nodes update the
# same branch, tellers and accounts, so an update that lost to a later
# one is recorded (update_differs) there, and only there.
#
# Not copied: the mock broker keeps only the newest ~5 MiB of a topic, and
# a copy of 100,000 accounts is about 10 MB, published faster than a
# consumer's first fetch (tried: the peer finds offset 0 gone and pauses
# with a gap).  050_real_schema.pl copies foreign-keyed tables instead.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $seconds = $ENV{WALBRIDGE_PGBENCH_SECONDS} // 10;
my $broker = start_broker('walbridge.e', 'walbridge.f');
my ($we, $wf);
END
{
	local $?;
	$_ && $_->alive && $_->kill9 for $we, $wf;
	$broker->{h}->kill_kill if $broker && $broker->{h}->pumpable;
}

my $e = walbridge_node('e');
my $f = walbridge_node('f');
my @tables = qw(pgbench_branches pgbench_tellers pgbench_accounts pgbench_history);

sub pgbench_init
{
	my ($node, $first) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'pgbench', '-i', '-I', 'dtGvpf', '-s', '1', '-h', $node->host, '-p', $node->port,
		'postgres' ], '>', \$out, '2>', \$err);
	ok($ok, $node->name . ': pgbench -i -I dtGvpf -s 1') or diag($err);
	$node->safe_psql('postgres', qq{
		ALTER TABLE pgbench_history ADD COLUMN id bigserial PRIMARY KEY;
		ALTER SEQUENCE pgbench_history_id_seq INCREMENT BY 2 RESTART WITH $first;});
}
pgbench_init($e, 1);
pgbench_init($f, 2);
is($e->safe_psql('postgres', q{SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text LIKE 'pgbench_%'}),
	'5', 'E: pgbench made its foreign keys (tellers, accounts and history to their parents)');
is($e->safe_psql('postgres', q{SELECT count(*) FROM pgbench_accounts}), '100000', 'E: 100,000 accounts');
tables_identical('before sync, pgbench -i', [ $e, $f ], \@tables, 1);

for my $n ([ $e, 'e', 'f' ], [ $f, 'f', 'e' ])
{
	$n->[0]->safe_psql('postgres',
		"SELECT walbridge.create_node('$n->[1]'); SELECT walbridge.start_sync('{$n->[2]}', snapshot => false);");
}

sub start_pgbench
{
	my ($node, $seconds) = @_;
	my ($out, $err) = ('', '');
	# -n: no VACUUM and no TRUNCATE of pgbench_history first
	my $h = IPC::Run::start([ 'pgbench', '-n', '-T', $seconds, '-c', '2', '-h', $node->host, '-p', $node->port,
		'postgres' ], '>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err, node => $node };
}

sub finish_pgbench
{
	my ($run) = @_;
	my $ok = eval { $run->{h}->finish };
	my ($txns) = ${ $run->{out} } =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = ${ $run->{out} } =~ /number of failed transactions: (\d+)/;
	ok($ok && defined $txns && !$failed, $run->{node}->name . ': pgbench ran without an error')
	  or diag(${ $run->{out} } . ${ $run->{err} });
	return $txns // 0;
}

$we = start_walbridged($e, $broker);
$wf = start_walbridged($f, $broker);
# both slots made and both consumers at their peer's topic end before any write
ok($we->wait_for_log(qr/applying node "f" from topic walbridge\.f/, 60), 'E: applies F\'s topic');
ok($wf->wait_for_log(qr/applying node "e" from topic walbridge\.e/, 60), 'F: applies E\'s topic');
my $bench_e = start_pgbench($e, $seconds);
my $bench_f = start_pgbench($f, $seconds);
my $txns_e = finish_pgbench($bench_e);
my $txns_f = finish_pgbench($bench_f);
cmp_ok($txns_e < $txns_f ? $txns_e : $txns_f, '>', 100, "both nodes ran TPC-B transactions ($txns_e on E, $txns_f on F)");

my $ok = tables_identical('pgbench', [ $e, $f ], \@tables, 120);
is($f->safe_psql('postgres', q{SELECT count(*) FROM pgbench_history}), $txns_e + $txns_f,
	'every history row arrived once: as many as both nodes\' transactions');
for my $n ($e, $f)
{
	my $name = $n->name;
	is(sync_problems($n), '', "$name: status() shows every direction running, no error");
	my @bad = grep { /^\S+ \S+ \S+ \[\d+\] (ERROR|WARNING):/ } split /\n/, ($name eq 'e' ? $we : $wf)->log_contents;
	is(substr($bad[0] // '', 0, 400), '', "$name: walbridged logged no error or warning");
	is($n->safe_psql('postgres', q{SELECT count(*) FROM walbridge.skipped}), '0', "$name: nothing skipped");
	note("$name: conflicts\n" . $n->safe_psql('postgres',
		q{SELECT kind, table_name, decision, count(*) FROM walbridge.conflicts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3}));
	is($n->safe_psql('postgres', q{
		SELECT coalesce(string_agg(DISTINCT kind || ' on ' || table_name, ', '), '') FROM walbridge.conflicts
		 WHERE kind <> 'update_differs'
			OR table_name NOT IN ('public.pgbench_branches', 'public.pgbench_tellers', 'public.pgbench_accounts')}),
		'', "$name: every conflict is an update of a branch, teller or account that lost to a later one");
	is($n->safe_psql('postgres', q{
		SELECT count(*) FROM pgbench_history h
		 WHERE NOT EXISTS (SELECT 1 FROM pgbench_accounts a WHERE a.aid = h.aid)
			OR NOT EXISTS (SELECT 1 FROM pgbench_tellers t WHERE t.tid = h.tid)
			OR NOT EXISTS (SELECT 1 FROM pgbench_branches b WHERE b.bid = h.bid)}),
		'0', "$name: every history row finds its account, teller and branch");
}
cmp_ok($e->safe_psql('postgres', q{SELECT count(*) FROM walbridge.conflicts WHERE table_name = 'public.pgbench_branches'})
	  + $f->safe_psql('postgres', q{SELECT count(*) FROM walbridge.conflicts WHERE table_name = 'public.pgbench_branches'}),
	'>', 0, 'the one branch both nodes update all the time had conflicts, decided and recorded');
sync_report([ $e, $we ], [ $f, $wf ]) unless $ok && sync_problems($e) eq '' && sync_problems($f) eq '';

is($we->stop, 0, 'E: walbridged stops cleanly');
is($wf->stop, 0, 'F: walbridged stops cleanly');
$broker->stop;
done_testing();
