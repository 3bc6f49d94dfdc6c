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
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(walbridge_node);

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

1;
