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
use File::Path ();
use File::Spec;
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(walbridge_node start_broker real_kafka start_walbridged dump_topic
  topic_transactions wait_slot_caught_up table_text tables_converge
  table_md5 tables_identical sync_problems sync_report wait_applied wait_resync_done);

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

# The broker a test runs against, with the topics named created (one
# partition each).  By default the mock Kafka cluster
# (test/broker/mock_broker), a process of its own, whose
# $broker->command('down 1') injects faults (see mock_broker.c).  With
# WALBRIDGE_KAFKA=real in the environment, a real Apache Kafka broker
# (test/kafka/broker, start_real_broker below) instead, unless the last
# argument is { mock => 1 }: tests that inject faults ask for the mock,
# which alone has that API.  { real => 1 } asks for the real one whatever
# the environment says.  A topic may carry configs for the real broker,
# "walbridge.a:retention.bytes=1048576,segment.bytes=1048576" (the mock
# ignores them).
sub start_broker
{
	my $opts = ref $_[-1] eq 'HASH' ? pop : {};
	return start_real_broker(@_)
	  if $opts->{real} || (real_kafka() && !$opts->{mock});
	my @topics = map { s/:.*//r } @_;
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
sub real { return 0; }

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

# True when the environment asks for a real Kafka broker (WALBRIDGE_KAFKA=real,
# set by test/run's real-broker stage).
sub real_kafka { return ($ENV{WALBRIDGE_KAFKA} // '') eq 'real'; }

my @real_brokers;

# A real Apache Kafka broker, one node in KRaft mode on two free loopback
# ports below 32768, run by test/kafka/broker as a child of this test (it
# gets SIGTERM if the test dies: setpriv --pdeathsig).  Its storage and
# log are in tmp_check/t_<test>_kafkaN, the log kept for failures.  The
# topics are created with CreateTopics before it is returned.
sub start_real_broker
{
	my (@topics) = @_;
	my $test = File::Basename::basename($0) =~ s/\.[^.]+$//r;
	my $dir = "$PostgreSQL::Test::Utils::tmp_check/t_${test}_kafka" . (@real_brokers + 1);
	my $self = bless {
		dir => $dir,
		port => PostgreSQL::Test::Cluster::get_free_port(),
		cport => PostgreSQL::Test::Cluster::get_free_port(),
		# for tests that look at the mock's IPC::Run handle in their END
		# (050): nothing to pump here; the END below stops this broker
		h => bless({}, 'WalbridgeTest::KafkaBroker::NoHandle'),
	}, 'WalbridgeTest::KafkaBroker';

	File::Path::rmtree($dir);		# left by an earlier run of this test
	mkdir $dir or die "$dir: $!";
	push @real_brokers, $self;
	# every walbridged reads the resync topic: made here as the mock makes it
	push @topics, 'walbridge-resync' unless grep { /^walbridge-resync(:|$)/ } @topics;
	return $self->start(@topics);
}

END
{
	my $passing = Test::More->builder->is_passing;
	for my $broker (@real_brokers)
	{
		$broker->stop if $broker->{pid};
		File::Path::rmtree("$broker->{dir}/data") if $passing;
	}
}

package WalbridgeTest::KafkaBroker::NoHandle;

sub pumpable { return 0; }

package WalbridgeTest::KafkaBroker;

sub bootstraps { return "127.0.0.1:$_[0]{port}"; }
sub real { return 1; }
sub log_contents { return PostgreSQL::Test::Utils::slurp_file("$_[0]{dir}/kafka.log"); }

sub command
{
	my ($self, $cmd) = @_;
	die "broker command '$cmd' needs the mock broker: start_broker(..., { mock => 1 })";
}

# Start (or start again, on the same storage and ports) and wait until it
# serves: its log says so, its port accepts connections, and it has given
# an idempotent producer its ID (see Admin.java's "ready"); then create
# @topics.
sub start
{
	my ($self, @topics) = @_;
	my $log = "$self->{dir}/kafka.log";
	my $from = -s $log // 0;
	my $started = Time::HiRes::time();

	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		open STDIN, '<', '/dev/null' or die;
		open STDOUT, '>>', $log or die "$log: $!";
		open STDERR, '>&', \*STDOUT or die;
		my @pdeath = -x '/usr/bin/setpriv' ? ('/usr/bin/setpriv', '--pdeathsig', 'TERM', '--') : ();
		exec(@pdeath, "$test_dir/kafka/broker", 'run', $self->{dir}, $self->{port}, $self->{cport})
		  or die "exec test/kafka/broker: $!";
	}
	$self->{pid} = $pid;
	for (1 .. 1200)
	{
		my $text = -s $log ? substr(PostgreSQL::Test::Utils::slurp_file($log), $from) : '';
		if ($text =~ /Kafka Server started/ && IO::Socket::INET->new(PeerAddr => $self->bootstraps))
		{
			$self->admin('ready', @topics);
			Test::More::note(sprintf('Kafka broker %s started in %.1f s (PID %d)',
				$self->bootstraps, Time::HiRes::time() - $started, $pid));
			return $self;
		}
		if (waitpid($pid, POSIX::WNOHANG()) == $pid)
		{
			delete $self->{pid};
			die "the Kafka broker exited with status $? before serving:\n" . substr($text, -4000);
		}
		Time::HiRes::usleep(100_000);
	}
	$self->stop;
	die "the Kafka broker did not start in 120 s; its log: $log";
}

# Signal the broker and wait for its exit (SIGKILL after $timeout s,
# default 60).  TERM is a clean shutdown; KILL leaves what an unclean one
# leaves.
sub signal_and_wait
{
	my ($self, $signal, $timeout) = @_;
	my $pid = delete $self->{pid} or return;
	kill $signal, $pid;
	for (1 .. ($timeout // 60) * 10)
	{
		return if waitpid($pid, POSIX::WNOHANG()) == $pid;
		Time::HiRes::usleep(100_000);
	}
	Test::More::diag("the Kafka broker (PID $pid) did not stop on SIG$signal: SIGKILL");
	kill 'KILL', $pid;
	waitpid($pid, 0);
}

sub stop { $_[0]->signal_and_wait('TERM'); }
sub kill9 { $_[0]->signal_and_wait('KILL'); }
sub restart { $_[0]->stop; return $_[0]->start; }

# test/kafka/broker admin ...: returns its output, dies on failure.
sub admin
{
	my ($self, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$test_dir/kafka/broker", 'admin', $self->bootstraps, @args ],
		'<', \undef, '>', \$out, '2>', \$err)
	  or die "test/kafka/broker admin @args failed: $err$out";
	return $out;
}

# Create topics: "name" or "name:key=value,..." (partitions=N and
# replication.factor=N are understood too).
sub create_topics { my ($self, @topics) = @_; $self->admin('create', @topics); return; }

# { partitions => N, replication_factor => N, config => { key => value } },
# the configs being those set on the topic itself.
sub describe_topic
{
	my ($self, $topic) = @_;
	my %d = (config => {});
	for (split /\n/, $self->admin('describe', $topic))
	{
		$d{partitions} = $1 if /^partitions (\d+)/;
		$d{replication_factor} = $1 if /^replication\.factor (\d+)/;
		$d{config}{$1} = $2 if /^config ([^=]+)=(.*)/;
	}
	return \%d;
}

# (log start offset, end offset) of the topic's partition 0.
sub offsets
{
	my ($self, $topic) = @_;
	return split ' ', $self->admin('offsets', $topic);
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

# Every message of a topic, decoded by walbridged dump: a list of
# hashes { offset, bytes, headers => {...}, records => [...] }.  The
# heartbeats walbridged publishes (a transaction holding only a
# walbridge.heartbeat message) are left out unless $heartbeats.
sub dump_topic
{
	my ($broker, $topic, $heartbeats) = @_;
	my ($out, $err);
	IPC::Run::run([ 'walbridged', 'dump', '-b', $broker->bootstraps, $topic ],
		'>', \$out, '2>', \$err)
	  or die "walbridged dump $topic failed: $err";
	my $json = JSON::PP->new;
	my @messages = map { $json->decode($_) } grep { length } split /\n/, $out;
	return \@messages if $heartbeats;
	return [ grep { !is_heartbeat($_) } @messages ];
}

# Whether a dumped message is one of walbridged's heartbeats.
sub is_heartbeat
{
	my ($m) = @_;
	my @body = grep { $_->{tag} !~ /^(BEGIN|COMMIT|RELATION)$/ } @{ $m->{records} // [] };
	return @body && !grep { $_->{tag} ne 'MESSAGE' || ($_->{prefix} // '') ne 'walbridge.heartbeat' } @body;
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

# Wait until the copy $node asked $peer for (walbridge.resync(), or a join)
# is done, as status() shows it.
sub wait_resync_done
{
	my ($node, $peer) = @_;
	return $node->poll_query_until('postgres',
		"SELECT resync LIKE 'done %' FROM walbridge.status() WHERE peer = '$peer'");
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
