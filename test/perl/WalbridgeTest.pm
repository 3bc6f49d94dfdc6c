# WalbridgeTest.pm: helpers shared by walbridge's TAP tests.
#
# A node is a real PostgreSQL server (PostgreSQL::Test::Cluster: its own
# data directory and a port below 32768) set up as walbridge needs it:
# test/logical.conf, plus walbridge in output_plugin_libraries on servers
# that have that setting (15.19 and later).
package WalbridgeTest;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use IPC::Run;
use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(walbridge_node start_broker start_walbridged dump_topic
  topic_transactions wait_slot_caught_up table_text tables_converge
  table_md5 tables_identical sync_problems sync_report wait_applied);

my $test_dir = File::Spec->rel2abs(dirname(__FILE__) . '/..');

sub server_has_setting
{
	my ($setting) = @_;
	my $out = `postgres --describe-config 2>/dev/null`;
	return $out =~ /^\Q$setting\E\t/m;
}

# A started node with the walbridge extension created in "postgres".
sub walbridge_node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf',
		PostgreSQL::Test::Utils::slurp_file("$test_dir/logical.conf"));
	$node->append_conf('postgresql.conf',
		"output_plugin_libraries = 'pgoutput, test_decoding, walbridge'\n")
	  if server_has_setting('output_plugin_libraries');
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION walbridge');
	return $node;
}

# ------------------------------------------------------------------ broker

# The mock Kafka cluster (test/broker/mock_broker), a process of its own.
# Topics named are created with one partition.  $broker->command('down 1')
# injects faults (see mock_broker.c).
sub start_broker
{
	my (@topics) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start([ "$test_dir/broker/mock_broker", '1', @topics ],
		'<', \$in, '>', \$out, '2>', \$err);
	my $deadline = time + 10;
	$h->pump until $out =~ /\n/ || time > $deadline;
	my ($bootstraps) = $out =~ /^(\S+)\n/ or die "mock broker did not start: $err";
	$out = '';
	return bless { h => $h, in => \$in, out => \$out, bootstraps => $bootstraps },
	  'WalbridgeTest::Broker';
}

package WalbridgeTest::Broker;

sub bootstraps { return $_[0]{bootstraps}; }

sub command
{
	my ($self, $cmd) = @_;
	${ $self->{out} } = '';
	${ $self->{in} } .= "$cmd\n";
	my $deadline = time + 10;
	$self->{h}->pump until ${ $self->{out} } =~ /\n/ || time > $deadline;
	my $answer = ${ $self->{out} };
	chomp $answer;
	die "broker command '$cmd': $answer" unless $answer eq 'ok';
	return $answer;
}

sub stop
{
	my ($self) = @_;
	$self->{h}->signal('TERM');
	$self->{h}->finish;
}

package WalbridgeTest;

# ------------------------------------------------------------- walbridged

# Start walbridged for $node against $broker; %settings go to its
# configuration file.  Returns an object with pid, kill, stop, log.
sub start_walbridged
{
	my ($node, $broker, %settings) = @_;
	my $name = $node->name;
	my $conf = $node->basedir . "/walbridged.conf";
	my $log = $node->basedir . "/walbridged.log";
	my $conninfo = delete $settings{conninfo} // $node->connstr('postgres');
	my %all = (create_topics => 'off', replication_factor => 1,
		status_interval => 1000, %settings);

	open my $fh, '>', $conf or die "$conf: $!";
	print $fh "$_ = '$all{$_}'\n" for sort keys %all;
	close $fh;

	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open STDOUT, '>>', $log or die;
		open STDERR, '>>', $log or die;
		# WALBRIDGED_WRAPPER: a command to run it under (valgrind, for one)
		my @wrapper = split ' ', ($ENV{WALBRIDGED_WRAPPER} // '');
		exec(@wrapper, 'walbridged', '-d', $conninfo, '-b', $broker->bootstraps,
			'-c', $conf) or die "exec walbridged: $!";
	}
	return bless { pid => $pid, log => $log, node => $node }, 'WalbridgeTest::Daemon';
}

package WalbridgeTest::Daemon;

sub pid { return $_[0]{pid}; }
sub log_contents { return -e $_[0]{log} ? PostgreSQL::Test::Utils::slurp_file($_[0]{log}) : ''; }

# Send a signal and, unless KILL is followed by nothing, wait for the exit.
# Returns the exit status (or -1 if it did not exit within 60 s).
sub signal_and_wait
{
	my ($self, $signal) = @_;
	kill $signal, $self->{pid};
	for (1 .. 600)
	{
		my $r = waitpid($self->{pid}, POSIX::WNOHANG());
		return $? >> 8 if $r == $self->{pid};
		Time::HiRes::usleep(100_000);
	}
	return -1;
}

sub stop { return $_[0]->signal_and_wait('TERM'); }

# Wait up to $timeout seconds (default 30) for the log to match $re.
sub wait_for_log
{
	my ($self, $re, $timeout) = @_;
	for (1 .. ($timeout // 30) * 10)
	{
		return 1 if $self->log_contents =~ $re;
		Time::HiRes::usleep(100_000);
	}
	return 0;
}
sub kill9 { return $_[0]->signal_and_wait('KILL'); }

# Peak resident memory so far, in kB (VmHWM), while it runs.
sub peak_rss_kb
{
	my ($self) = @_;
	open my $fh, '<', "/proc/$self->{pid}/status" or return undef;
	while (<$fh>) { return $1 if /^VmHWM:\s+(\d+)/; }
	return undef;
}

sub alive { return kill(0, $_[0]{pid}) && waitpid($_[0]{pid}, POSIX::WNOHANG()) == 0; }

package WalbridgeTest;

# ------------------------------------------------------------------ topics

# Every message of a topic, decoded by test/broker/topic_dump: a list of
# hashes { offset, bytes, headers => {...}, records => [...] }.
sub dump_topic
{
	my ($broker, $topic) = @_;
	my ($out, $err);
	IPC::Run::run([ "$test_dir/broker/topic_dump", $broker->bootstraps, $topic ],
		'>', \$out, '2>', \$err)
	  or die "topic_dump $topic failed: $err";
	my $json = JSON::PP->new;
	return [ map { $json->decode($_) } grep { length } split /\n/, $out ];
}

# The transactions of a dump, chunks joined, in topic order: a list of
# { xid, commit_lsn, end_lsn, origin, records => [changes only] }.  A
# transaction published twice (after a crash) appears twice.
sub topic_transactions
{
	my ($messages) = @_;
	my (@txns, $cur);
	for my $m (@$messages)
	{
		my $h = $m->{headers};
		next unless ($h->{'wb.kind'} // '') eq 'txn';
		if (!$cur || $h->{'wb.chunk'} eq '0')
		{
			$cur = { xid => $h->{'wb.xid'}, commit_lsn => $h->{'wb.commit_lsn'},
				origin => $h->{'wb.origin'}, records => [], chunks => 0 };
		}
		die "chunk of xid $h->{'wb.xid'} inside xid $cur->{xid}"
		  unless $cur->{xid} eq $h->{'wb.xid'};
		$cur->{chunks}++;
		push @{ $cur->{records} },
		  grep { $_->{tag} !~ /^(BEGIN|COMMIT|RELATION)$/ } @{ $m->{records} };
		if ($h->{'wb.last'} eq '1')
		{
			$cur->{end_lsn} = $h->{'wb.end_lsn'};
			push @txns, $cur;
			undef $cur;
		}
	}
	return \@txns;
}

# A table's whole content as text, rows in a stable order.
sub table_text
{
	my ($node, $table) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM $table t");
}

# Wait up to $timeout seconds (default 60) until every node of @$nodes has
# the same content in every table of @$tables.  On a timeout, one failing
# test per table that differs shows the difference; returns whether they
# converged.
sub tables_converge
{
	my ($what, $nodes, $tables, $timeout) = @_;
	my ($first, @others) = @$nodes;
	for (1 .. ($timeout // 60) * 10)
	{
		my $differ = 0;
		for my $t (@$tables)
		{
			my $want = table_text($first, $t);
			$differ ||= grep { table_text($_, $t) ne $want } @others;
		}
		return 1 unless $differ;
		usleep(100_000);
	}
	for my $t (@$tables)
	{
		is(table_text($_, $t), table_text($first, $t), "$what: $t identical on " . $_->name) for @others;
	}
	return 0;
}

# Wait until walbridged confirmed everything written so far on $node.
sub wait_slot_caught_up
{
	my ($node, $slot, $timeout) = @_;
	my $target = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	$timeout //= 120;
	for (1 .. $timeout * 10)
	{
		my $ok = $node->safe_psql('postgres',
			"SELECT coalesce(confirmed_flush_lsn >= '$target', false) FROM pg_replication_slots WHERE slot_name = '$slot'");
		return 1 if $ok eq 't';
		usleep(100_000);
	}
	return 0;
}

# ------------------------------------------------------- larger schemas

# A table's row count and the md5 of its whole content (every column of
# every row, as text, rows in a stable order): cheap to poll on tables
# with thousands of rows or large values.
sub table_md5
{
	my ($node, $table) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) || ' rows, md5 ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM $table t");
}

# Wait up to $timeout seconds (default 90) until every node of @$nodes has
# the same content as the first in every table of @$tables (whole rows,
# compared by table_md5), then one test per table and node: identical or
# not.  A table that differs shows both digests and up to 5 rows found on
# only one side (each cut to 300 characters).  Returns whether all were.
sub tables_identical
{
	my ($what, $nodes, $tables, $timeout) = @_;
	my ($first, @others) = @$nodes;
	my $deadline = time + ($timeout // 90);
	my %differ;
	while (1)
	{
		%differ = ();
		for my $t (@$tables)
		{
			my $want = table_md5($first, $t);
			for my $n (@others)
			{
				my $got = table_md5($n, $t);
				$differ{$t}{ $n->name } = [ $want, $got ] if $got ne $want;
			}
		}
		last if !%differ || time > $deadline;
		usleep(500_000);
	}
	my $identical = !%differ;
	for my $t (@$tables)
	{
		for my $n (@others)
		{
			my $d = $differ{$t} && $differ{$t}{ $n->name };
			next if ok(!$d, "$what: $t identical on " . $first->name . ' and ' . $n->name);
			diag("$t on " . $first->name . ": $d->[0]\n$t on " . $n->name . ": $d->[1]");
			my %here = map { $_ => 1 } split /\n/, table_text($first, $t);
			my %there = map { $_ => 1 } split /\n/, table_text($n, $t);
			for ([ $first, \%here, \%there ], [ $n, \%there, \%here ])
			{
				my ($who, $mine, $theirs) = @$_;
				my @only = sort grep { !$theirs->{$_} } keys %$mine;
				next unless @only;
				diag(scalar(@only) . " rows of $t only on " . $who->name . ':');
				diag('  ' . (length($_) > 300 ? substr($_, 0, 300) . '...' : $_)) for @only[ 0 .. ($#only < 4 ? $#only : 4) ];
			}
		}
	}
	return $identical;
}

# What in walbridge.status() is not running or carries an error, as one
# line ('' when every direction runs without error).
sub sync_problems
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT coalesce(string_agg(format('%s %s: %s, last error: %s', direction, coalesce(peer, '-'), state,
			coalesce(last_error, 'none')), '; '), '')
		  FROM walbridge.status() WHERE state <> 'running' OR last_error IS NOT NULL});
}

# Diagnostics for a failure: for each [node, walbridged] pair, status(),
# the conflicts by kind and table, the server log's last errors and the
# walbridged log's last lines.
sub sync_report
{
	my (@pairs) = @_;
	for my $p (@pairs)
	{
		my ($node, $daemon) = @$p;
		my $name = $node->name;
		diag("---- $name: walbridge.status()\n" . $node->safe_psql('postgres',
			q{SELECT direction, peer, state, confirmed_lsn, kafka_offset, conflicts, last_error FROM walbridge.status()}));
		diag("---- $name: walbridge.conflicts by kind\n" . $node->safe_psql('postgres',
			q{SELECT kind, table_name, decision, count(*) FROM walbridge.conflicts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3}));
		my @errors = grep { /ERROR|FATAL|PANIC/ } split /\n/, PostgreSQL::Test::Utils::slurp_file($node->logfile);
		diag("---- $name: server log, last errors\n" . join("\n", @errors[ ($#errors > 9 ? $#errors - 9 : 0) .. $#errors ]))
		  if @errors;
		next unless $daemon;
		my @lines = map { length > 400 ? substr($_, 0, 400) . '...' : $_ } split /\n/, $daemon->log_contents;
		diag("---- $name: walbridged log, last lines\n" . join("\n", @lines[ ($#lines > 14 ? $#lines - 14 : 0) .. $#lines ]));
	}
}

# Wait up to $timeout seconds (default 90) until $node applied $peer's
# transactions up to $source's current WAL position (through
# walbridge.apply_progress): $source must commit something after the
# call, which is then the first transaction past it.
sub wait_applied
{
	my ($node, $peer, $source, $timeout) = @_;
	my $target = $source->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	for (1 .. ($timeout // 90) * 10)
	{
		return 1 if $node->safe_psql('postgres',
			"SELECT coalesce(source_commit_lsn >= '$target', false) FROM walbridge.apply_progress WHERE peer = '$peer'") eq 't';
		usleep(100_000);
	}
	return 0;
}

1;
