# META.json is valid PGXN Meta Spec 1.0.0, and every version number of the
# release moves in lockstep: META.json, walbridge.control, the Makefile.
use strict;
use warnings;

use JSON::PP;
use Test::More;

sub slurp { local (@ARGV, $/) = @_; return <>; }

my $meta = eval { JSON::PP->new->decode(slurp('META.json')) };
ok($meta, 'META.json parses') or BAIL_OUT($@);

for my $key (qw(name abstract version maintainer license provides meta-spec))
{
	ok(exists $meta->{$key}, "META.json has $key");
}
is($meta->{'meta-spec'}{version}, '1.0.0', 'meta-spec version 1.0.0');
like($meta->{version}, qr/^\d+\.\d+\.\d+$/, 'version is a semantic version');
my %licenses = map { $_ => 1 } qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2
  bsd freebsd gfdl_1_2 gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0
  mozilla_1_1 openssl perl_5 postgresql qpl_1_0 ssleay sun zlib open_source restricted
  unrestricted unknown);
ok($licenses{ $meta->{license} }, "license '$meta->{license}' is one the spec names");
ok(ref $meta->{maintainer} eq 'ARRAY' || !ref $meta->{maintainer}, 'maintainer is a string or list');

my $provides = $meta->{provides}{walbridge};
ok($provides, 'provides walbridge');
ok(-f $provides->{file}, "provides.file $provides->{file} exists");
is($provides->{version}, $meta->{version}, 'provides.version equals version');
like($meta->{prereqs}{runtime}{requires}{PostgreSQL}, qr/^15\./, 'requires PostgreSQL 15+');

my ($control) = slurp('walbridge.control') =~ /default_version\s*=\s*'([^']+)'/;
is($control, $meta->{version}, 'walbridge.control default_version equals META.json');
my ($make) = slurp('Makefile') =~ /^EXTVERSION\s*=\s*(\S+)/m;
is($make, $meta->{version}, 'Makefile EXTVERSION equals META.json');

done_testing();
