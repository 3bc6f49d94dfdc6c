# walbridged --pid-file (pid_file): the file holds the daemon's PID while
# it runs, a second walbridged with the same file refuses to start, and
# the file is gone after a clean stop, so scripts (the demo, test/run) stop
# the daemon by its own PID without procps.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $broker = start_broker('walbridge.a');
my $a = walbridge_node('a');
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}');});
my $pid_file = $a->basedir . '/walbridged.pid';

my $wa = start_walbridged($a, $broker, pid_file => $pid_file);
ok($wa->wait_for_log(qr/streaming slot/), 'walbridged runs');
is(PostgreSQL::Test::Utils::slurp_file($pid_file) =~ s/\s+$//r, $wa->pid, 'the PID file holds its PID');

# a second daemon with the same file: refused, the first untouched
my ($out, $err) = ('', '');
my $conf = $a->basedir . '/second.conf';
PostgreSQL::Test::Utils::append_to_file($conf, "pid_file = '$pid_file'\ncreate_topics = 'off'\n");
my $rc = IPC::Run::run([ 'walbridged', '-d', $a->connstr('postgres'), '-b', $broker->bootstraps, '-c', $conf ],
	'>', \$out, '2>', \$err, IPC::Run::timeout(30));
ok(!$rc, 'a second walbridged with the same PID file exits with an error');
like($out . $err, qr/another walbridged \(PID ${\ $wa->pid }\) is running with PID file/, 'and says which one');
ok($wa->alive, 'the first one still runs');

is($wa->stop, 0, 'clean stop');
ok(!-e $pid_file, 'the PID file is removed at exit');

$broker->stop;
done_testing();
