# Multi-master: two nodes writing concurrently, conflicting updates
# included, converge with conflicts recorded and nothing looping; three
# nodes each writing converge; walbridged killed with SIGKILL at random
# moments during the load applies no transaction twice.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

my @names = qw(a b c);
my $broker = start_broker(map { "walbridge.$_" } @names);
my %node = map { $_ => walbridge_node("mesh_$_") } @names;

my $schema = q{
	CREATE TABLE shared (id integer PRIMARY KEY, v integer NOT NULL, writer text);
	CREATE TABLE parent (id integer PRIMARY KEY);
	CREATE TABLE child (id integer PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent);
	CREATE TABLE owned (node text, id integer, v text, PRIMARY KEY (node, id));
	-- insert-only: every row must be applied exactly once everywhere
	CREATE TABLE ledger (node text, id integer, PRIMARY KEY (node, id));
	CREATE TABLE ledger_audit (node text, id integer, op text);
	CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO public.ledger_audit VALUES (NEW.node, NEW.id, TG_OP); RETURN NEW; END $$;
	CREATE TRIGGER ledger_audit AFTER INSERT OR UPDATE ON ledger FOR EACH ROW EXECUTE FUNCTION audit();
	-- ALWAYS: it must see the rows apply writes too (user triggers do not fire
	-- during apply otherwise, as in native logical replication); its table
	-- is qualified, as apply runs with search_path = pg_catalog
	ALTER TABLE ledger ENABLE ALWAYS TRIGGER ledger_audit;
	CREATE PROCEDURE work(me text, n integer, first_id integer) LANGUAGE plpgsql AS $$
	BEGIN
		FOR i IN first_id .. first_id + n - 1 LOOP
			INSERT INTO owned VALUES (me, i, 'v' || i);
			INSERT INTO ledger VALUES (me, i);
			COMMIT;
			UPDATE shared SET v = v + 1, writer = me WHERE id = 1 + i % 20;
			COMMIT;
			IF i % 5 = 0 THEN DELETE FROM owned WHERE node = me AND id = i - 3; COMMIT; END IF;
			IF i % 50 = 0 THEN PERFORM pg_sleep(0.02); END IF;
		END LOOP;
	END $$;
};
for my $n (values %node)
{
	$n->safe_psql('postgres', $schema);
	$n->safe_psql('postgres', q{INSERT INTO shared SELECT g, 0, 'seed' FROM generate_series(1, 20) g});
}

sub content
{
	my ($n) = @_;
	return $n->safe_psql('postgres', q{
		SELECT (SELECT string_agg(s::text, ',' ORDER BY id) FROM shared s) || '|' ||
			   (SELECT coalesce(string_agg(o::text, ',' ORDER BY node, id), '') FROM owned o) || '|' ||
			   (SELECT count(*) FROM ledger)});
}

sub converge
{
	my (@nodes) = @_;
	for (1 .. 1200)
	{
		my %seen = map { content($_) => 1 } @nodes;
		return 1 if keys %seen == 1;
		usleep(100_000);
	}
	diag("$_: " . substr(content($_), 0, 300)) for @nodes;
	return 0;
}

sub start_mesh
{
	my (@members) = @_;
	my %wb;
	for my $me (@members)
	{
		my @peers = grep { $_ ne $me } @members;
		$node{$me}->safe_psql('postgres', "SELECT walbridge.create_node('$me')")
		  unless $node{$me}->safe_psql('postgres', 'SELECT count(*) FROM walbridge.node');
		$node{$me}->safe_psql('postgres',
			"SELECT walbridge.start_sync('{" . join(',', @peers) . "}', snapshot => false)");
		$wb{$me} = start_walbridged($node{$me}, $broker);
	}
	for my $me (@members)
	{
		$node{$me}->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
		  or die "walbridged on $me did not start";
	}
	sleep 2;	# consumers assigned at the topics' ends
	return \%wb;
}

sub writers
{
	my ($n, $first, @members) = @_;
	return map {
		my $me = $_;
		IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node{$me}->connstr('postgres'),
			'-c', "CALL work('$me', $n, $first)" ], '>', \my $o, '2>', \my $e)
	} @members;
}

# ---- two nodes, bidirectional, concurrent conflicting updates
my $wb = start_mesh('a', 'b');
$_->finish for writers(300, 1, 'a', 'b');
ok(converge(@node{qw(a b)}), 'a and b converge after concurrent writes on both');
is($node{a}->safe_psql('postgres', 'SELECT count(*) FROM ledger'), '600', 'every ledger row arrived');
my $conflicts = $node{a}->safe_psql('postgres', 'SELECT count(*) FROM walbridge.conflicts')
  + $node{b}->safe_psql('postgres', 'SELECT count(*) FROM walbridge.conflicts');
cmp_ok($conflicts, '>', 0, "conflicting updates were resolved and recorded ($conflicts)");
is($node{a}->safe_psql('postgres', q{SELECT count(*) FROM walbridge.conflicts WHERE table_name <> 'public.shared'}), '0',
	'only the shared rows had conflicts');

# Nothing loops: each topic holds exactly its own node's transactions.
for my $me (qw(a b))
{
	ok(wait_slot_caught_up($node{$me}, "walbridge_$me"), "$me: slot caught up");
	my $txns = topic_transactions(dump_topic($broker, "walbridge.$me"));
	my @foreign = grep { ($_->{origin} // '') ne '' } @$txns;
	is(scalar(@foreign), 0, "$me: no applied transaction is published again");
	# 300 iterations: 300 inserts, 300 updates, 60 deletes
	is(scalar(@$txns), 660, "$me: the topic's transaction count is what ${me}'s writes explain");
}

# ---- kill -9 of each walbridged during the load: no transaction twice
my @load = writers(400, 1001, 'a', 'b');
for my $round (1 .. 4)
{
	my $victim = $round % 2 ? 'a' : 'b';
	usleep(400_000 + int(rand(600_000)));
	$wb->{$victim}->kill9;
	$wb->{$victim} = start_walbridged($node{$victim}, $broker);
}
$_->finish for @load;
ok(converge(@node{qw(a b)}), 'after SIGKILLs during the load, a and b converge');
for my $me (qw(a b))
{
	is($node{$me}->safe_psql('postgres', q{SELECT count(*) FROM ledger_audit WHERE op <> 'INSERT'}), '0',
		"$me: no ledger row was applied twice");
	is($node{$me}->safe_psql('postgres', q{SELECT count(*) FROM ledger}), '1400', "$me: every ledger row is there once");
	is($node{$me}->safe_psql('postgres', q{SELECT count(*) FROM ledger_audit}), '1400',
		"$me: and the audit saw each, its own and those applied");
}
$_->stop for values %$wb;

# ---- three nodes, each writing
$node{$_}->safe_psql('postgres', 'SELECT walbridge.stop_sync()') for qw(a b);
# reset every node to the same start, under an origin so it is not
# published, as apply does (replica role: a mesh member refuses TRUNCATE
# of its synced tables otherwise)
for my $me (qw(a b c))
{
	$node{$me}->safe_psql('postgres', q{
		SELECT pg_replication_origin_create('test_reset');
		SELECT pg_replication_origin_session_setup('test_reset');
		SET session_replication_role = replica;
		TRUNCATE owned, ledger, ledger_audit; UPDATE shared SET v = 0, writer = 'seed';});
}
$wb = start_mesh('a', 'b', 'c');
$_->finish for writers(200, 5001, 'a', 'b', 'c');
ok(converge(@node{qw(a b c)}), 'three nodes, each writing, converge');
is($node{c}->safe_psql('postgres', 'SELECT count(*) FROM ledger'), '600', 'c has every node\'s ledger rows');

# A change that depends on a row another peer has not delivered yet:
# foreign keys are checked where a change is made, not where it is
# applied (apply runs with session_replication_role = replica, as native
# logical replication does), so the child is applied at once and the
# parent follows when its node's topic is applied.  b applies only a for
# now; c inserts a parent, a (which has it) inserts a child.
$node{b}->safe_psql('postgres', q{SELECT walbridge.start_sync('{a}', snapshot => false)});
sleep 2;
$node{c}->safe_psql('postgres', q{INSERT INTO parent VALUES (1)});
$node{a}->poll_query_until('postgres', q{SELECT count(*) = 1 FROM parent}) or die 'a did not get the parent';
$node{a}->safe_psql('postgres', q{INSERT INTO child VALUES (1, 1)});
ok($node{b}->poll_query_until('postgres', q{SELECT count(*) = 1 FROM child}),
	'b applies the child before its parent arrived: the foreign key was checked on a');
is($node{b}->safe_psql('postgres', q{SELECT count(*) FROM parent}), '0', 'b has no parent yet');
is($node{b}->safe_psql('postgres', q{SELECT state FROM walbridge.status() WHERE peer = 'a'}), 'running',
	'applying a does not stop for it');
$node{b}->safe_psql('postgres', q{SELECT walbridge.start_sync('{a, c}', snapshot => false)});
ok($node{b}->poll_query_until('postgres', q{SELECT count(*) = 1 FROM parent}),
	'once c is applied too, the parent arrives');
is($node{b}->safe_psql('postgres', q{SELECT count(*) FROM child c JOIN parent p ON p.id = c.parent_id}), '1',
	'and the child has its parent');

is($_->stop, 0, 'clean stop') for values %$wb;

$broker->stop;
done_testing();
