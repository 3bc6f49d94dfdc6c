# The publishing half of walbridge.resync(): a node asked for a copy (a
# resync_request in the resync topic, as the asking node's walbridged
# writes it) publishes its synced tables into its own topic in key ranges,
# each at the place of its watermark, while it goes on writing: every
# transaction committed after a chunk's watermark follows the chunk, so a
# reader that applies the topic in order ends with the node's rows.  The
# copy names the request and the node, records its progress in
# walbridge.resync_jobs, goes on after a restart from the last chunk Kafka
# acknowledged, and a newer request from the same node supersedes it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IPC::Run;
use JSON::PP;
use WalbridgeTest;

my $broker = start_broker('walbridge.a', 'walbridge-resync');
my $a = walbridge_node('a');
$a->safe_psql('postgres', q{
	CREATE TABLE accounts (region text, id int, balance numeric, note text, PRIMARY KEY (region, id));
	ALTER TABLE accounts ALTER note SET STORAGE EXTERNAL;
	CREATE TABLE events (id bigint, at date, what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
	CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
	CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM ('2026-07-01') TO ('2027-01-01');
	CREATE TABLE empty_one (id int PRIMARY KEY);
	INSERT INTO accounts SELECT CASE WHEN g % 3 = 0 THEN 'eu' ELSE 'us' END, g, g, NULL FROM generate_series(1, 5000) g;
	UPDATE accounts SET note = repeat('n', 9000) WHERE id % 1000 = 1;
	INSERT INTO events SELECT g, date '2026-01-01' + (g % 360), 'e' || g FROM generate_series(1, 3000) g;
	SELECT walbridge.create_node('a');
	SELECT walbridge.start_sync('{}', snapshot => false);
});
my $wa = start_walbridged($a, $broker);
$wa->wait_for_log(qr/streaming slot/);

sub request
{
	my ($id, $from) = @_;
	my $err;
	IPC::Run::run([ 'kcat', '-P', '-b', $broker->bootstraps, '-t', 'walbridge-resync', '-p', '0',
		'-k', 'a', '-H', 'wb.kind=resync_request', '-H', "wb.node=$from", '-H', 'wb.to=a',
		'-H', "wb.request=$id", '-H', 'wb.format=1' ], '<', \"request\n", '2>', \$err)
	  or die "kcat: $err";
}

sub job_state
{
	my ($id) = @_;
	return $a->safe_psql('postgres', "SELECT state || ' ' || rows FROM walbridge.resync_jobs WHERE request_id = '$id'");
}

sub wait_job
{
	my ($id, $want) = @_;
	for (1 .. 600)
	{
		my $s = job_state($id);
		return $s if $s =~ $want;
		usleep(100_000);
	}
	return job_state($id);
}

# A request for another node is none of a's business.
request('from-x', 'x');
IPC::Run::run([ 'kcat', '-P', '-b', $broker->bootstraps, '-t', 'walbridge-resync', '-p', '0',
	'-k', 'c', '-H', 'wb.kind=resync_request', '-H', 'wb.node=b', '-H', 'wb.to=c',
	'-H', 'wb.request=not-mine', '-H', 'wb.format=1' ], '<', \"request\n");

# Writers keep writing while the copy runs.
my $writer = IPC::Run::start([ 'psql', '-X', '-q', '-d', $a->connstr('postgres'), '-c', q{
	DO $$ BEGIN
	FOR i IN 1..400 LOOP
		UPDATE accounts SET balance = balance + 1 WHERE id = 1 + (i * 37) % 5000;
		DELETE FROM accounts WHERE id = 1 + (i * 53) % 5000;
		INSERT INTO accounts VALUES ('new', i, i, NULL) ON CONFLICT DO NOTHING;
		UPDATE events SET what = 'w' || i WHERE id = 1 + (i * 7) % 3000;
		COMMIT;
		PERFORM pg_sleep(0.005);
	END LOOP;
	END $$;
} ], '>', \my $wout, '2>', \my $werr);
request('req-1', 'b');
like(wait_job('req-1', qr/^done/), qr/^done \d+/, 'the copy for b was published and acknowledged');
$writer->finish;
is($werr, '', 'the writer ran without error');
is($a->safe_psql('postgres', q{SELECT count(*) FROM walbridge.resync_jobs WHERE request_id = 'not-mine'}), '0',
	'a request for another node starts nothing');
like(wait_job('from-x', qr/^done/), qr/^done/, 'a request from another node, sent first, is served too');

# Replay the topic as b would: every txn and, for req-1 only, the chunks
# in their place.  Keep a model of a's tables keyed by primary key.
sleep 2;
my $msgs = dump_topic($broker, 'walbridge.a');
my (%rows, %rel, @phases, %copied);
my $chunks = 0;
my $wrong_header = 0;
my $in_window = 0;
for my $m (@$msgs)
{
	my $h = $m->{headers};
	my $kind = $h->{'wb.kind'};
	if ($kind eq 'resync')
	{
		next unless $h->{'wb.request'} eq 'req-1';
		$wrong_header++ unless $h->{'wb.for'} eq 'b';
		for my $r (@{ $m->{records} })
		{
			if ($r->{tag} eq 'RELATION') { $rel{ $r->{relid} } = "$r->{schema}.$r->{table}"; next; }
			if ($r->{tag} eq 'SNAPSHOT')
			{
				my $t = $rel{ $r->{relid} };
				my $key = $t eq 'public.events' ? "$r->{new}[0]|$r->{new}[1]" : "$r->{new}[0]|$r->{new}[1]";
				$rows{$t}{$key} = $r->{new};
				$copied{$t}++;
				next;
			}
			if ($r->{tag} eq 'MESSAGE')
			{
				my $j = decode_json($r->{content});
				push @phases, $j->{phase};
				if ($j->{phase} eq 'chunk')
				{
					$chunks++;
					# the range's rows not among its keys are gone on a
					my %keys = map { join('|', @$_) => 1 } @{ $j->{keys} };
					my $t = $j->{table};
					for my $k (keys %{ $rows{$t} // {} })
					{
						# compare keys in text: the model's are the copy's, the same values
						next if $keys{$k};
						next unless in_range($k, $j->{after}, $j->{through}, $t);
						delete $rows{$t}{$k};
					}
				}
			}
		}
		next;
	}
	next unless $kind eq 'txn';
	for my $r (@{ $m->{records} })
	{
		if ($r->{tag} eq 'RELATION') { $rel{ $r->{relid} } = "$r->{schema}.$r->{table}"; next; }
		next unless $r->{tag} =~ /^(INSERT|UPDATE|DELETE)$/;
		my $t = $rel{ $r->{relid} };
		if ($r->{tag} eq 'DELETE') { delete $rows{$t}{"$r->{old}[0]|$r->{old}[1]"}; next; }
		my $new = $r->{new};
		if ($r->{tag} eq 'UPDATE')
		{
			my $old = $rows{$t}{"$new->[0]|$new->[1]"};
			$new = [ map { ref $new->[$_] eq 'HASH' && $old ? $old->[$_] : $new->[$_] } 0 .. $#$new ];
		}
		$rows{$t}{"$new->[0]|$new->[1]"} = $new;
	}
}

sub in_range
{
	my ($k, $after, $through, $t) = @_;
	my @k = split /\|/, $k;
	my $cmp = sub {
		my ($x, $y) = @_;
		for my $i (0 .. 1)
		{
			# numbers as numbers, text and ISO dates as text: the keys' order
			my $c = ($x->[$i] =~ /^-?\d+$/ && $y->[$i] =~ /^-?\d+$/)
			  ? $x->[$i] <=> $y->[$i] : $x->[$i] cmp $y->[$i];
			return $c if $c;
		}
		return 0;
	};
	return 0 if $after && $cmp->(\@k, $after) <= 0;
	return 0 if $through && $cmp->(\@k, $through) > 0;
	return 1;
}

is($wrong_header, 0, 'every message of the copy names the node that asked');
is($phases[0], 'begin', 'the copy starts with its begin phase');
is($phases[-1], 'done', 'and ends with done');
cmp_ok($chunks, '>', 5, "the tables went in key ranges ($chunks chunks)");
for my $t (qw(accounts events))
{
	my $want = $a->safe_psql('postgres', "SELECT count(*) FROM $t");
	is(scalar(keys %{ $rows{"public.$t"} }), $want, "$t: replaying the topic in order gives a's row count");
}
my $sum_model = 0;
$sum_model += $_->[2] for values %{ $rows{'public.accounts'} };
is($sum_model, $a->safe_psql('postgres', 'SELECT sum(balance) FROM accounts'),
	'and its balances: writes racing the copy were not undone by it');
my @big = grep { defined $_->[3] } values %{ $rows{'public.accounts'} };
ok(@big && !(grep { length($_->[3]) != 9000 } @big), 'large values are whole in the copy');

# A restart goes on from the last acknowledged chunk; a newer request supersedes.
$a->safe_psql('postgres', q{INSERT INTO accounts SELECT 'zz', g, g FROM generate_series(1, 20000) g});
request('req-2', 'b');
wait_job('req-2', qr/copying [1-9]/);
$wa->stop;
my $before = job_state('req-2');
$wa = start_walbridged($a, $broker);
like(wait_job('req-2', qr/^done/), qr/^done/, "after a restart (at '$before') the copy finished");
request('req-3', 'b');
wait_job('req-3', qr/copying [1-9]|done/);
request('req-4', 'b');
like(wait_job('req-4', qr/^done/), qr/^done/, 'the newest request was served');
like(job_state('req-3'), qr/^(superseded|done)/, 'the older one was superseded (or done before)');

# A commit whose record is in the WAL before a chunk's watermark but that
# is not visible yet when the chunk is read (here: waiting for a
# synchronous standby that never answers) must not be undone by the
# chunk: the chunk is read again until it sees it.
$a->safe_psql('postgres', q{CREATE TABLE a_held (id int PRIMARY KEY, v text);
	INSERT INTO a_held VALUES (1, 'before')});
$a->safe_psql('postgres', q{SELECT walbridge.start_sync('{}', snapshot => false)});
$wa->wait_for_log(qr/streaming slot "walbridge_a" \(4 tables\)/);
$a->safe_psql('postgres', q{ALTER SYSTEM SET synchronous_standby_names = 'nobody'; SELECT pg_reload_conf()});
my $hung = IPC::Run::start([ 'psql', '-X', '-q', '-d', $a->connstr('postgres'), '-c',
	q{SET synchronous_commit = on; UPDATE a_held SET v = 'held' WHERE id = 1} ], '>', \my $hout, '2>', \my $herr);
$a->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND query LIKE '%UPDATE a_held%'})
  or die 'the update did not wait for its standby';
request('req-held', 'b');
sleep 3;
$a->safe_psql('postgres', q{ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf()});
$hung->finish;
like(wait_job('req-held', qr/^done/), qr/^done/, 'the copy went on once the held commit became visible');
sleep 2;
my $value;
for my $m (@{ dump_topic($broker, 'walbridge.a') })
{
	my $h = $m->{headers};
	my ($kind, %rel2);
	if ($h->{'wb.kind'} eq 'resync')
	{
		next unless $h->{'wb.request'} eq 'req-held';
	}
	elsif ($h->{'wb.kind'} ne 'txn') { next; }
	for my $r (@{ $m->{records} })
	{
		$rel2{ $r->{relid} } = $r->{table} if $r->{tag} eq 'RELATION';
	}
	for my $r (@{ $m->{records} })
	{
		next unless $r->{tag} =~ /^(SNAPSHOT|INSERT|UPDATE)$/;
		my $t = $rel2{ $r->{relid} } // $rel{ $r->{relid} } // '';
		next unless ($t eq 'a_held' || $t eq 'public.a_held') && $r->{new}[0] == 1;
		$value = $r->{new}[1];
		note("a_held at offset $m->{offset}: $h->{'wb.kind'} $r->{tag} $value");
	}
}
is($value, 'held', 'replaying the topic in order ends with the held update, not the chunk\'s older row');

$wa->stop;
$broker->stop;
done_testing();
