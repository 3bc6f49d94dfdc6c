# A user who may create objects in schema public (PostgreSQL 14 and older
# gave every role CREATE there, and upgraded databases keep it) defines
# functions and an operator that match walbridged's SQL better than the
# built-in ones: unnest(text[]), unnest(int2vector), format(text, name,
# name), quote_ident(name), =(regclass, oid), to_jsonb(record).  walbridged
# runs as a superuser here, as many deployments do; with its search_path
# pinned to pg_catalog none of them ever runs, while it copies, publishes
# and applies in both directions.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $broker = start_broker('walbridge.a', 'walbridge.b');
my %node = map { $_ => walbridge_node("hostile_$_") } qw(a b);

my $trap = q{
	GRANT CREATE ON SCHEMA public TO PUBLIC;
	CREATE TABLE public.pwned (who text, what text);	-- no primary key: not synced
	GRANT INSERT ON public.pwned TO PUBLIC;
	CREATE ROLE mallory;
	SET ROLE mallory;
	CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql AS
		$$BEGIN INSERT INTO public.pwned VALUES (current_user, 'unnest(text[])');
		RETURN QUERY SELECT x FROM pg_catalog.unnest(a) x; END$$;
	CREATE FUNCTION public.unnest(a int2vector) RETURNS SETOF smallint LANGUAGE plpgsql AS
		$$BEGIN INSERT INTO public.pwned VALUES (current_user, 'unnest(int2vector)');
		RETURN QUERY SELECT x FROM pg_catalog.unnest(a::smallint[]) x; END$$;
	CREATE FUNCTION public.format(f text, a name, b name) RETURNS text LANGUAGE plpgsql AS
		$$BEGIN INSERT INTO public.pwned VALUES (current_user, 'format'); RETURN pg_catalog.format(f, a, b); END$$;
	CREATE FUNCTION public.quote_ident(a name) RETURNS text LANGUAGE plpgsql AS
		$$BEGIN INSERT INTO public.pwned VALUES (current_user, 'quote_ident'); RETURN pg_catalog.quote_ident(a::text); END$$;
	CREATE FUNCTION public.eq_regclass_oid(a regclass, b oid) RETURNS boolean LANGUAGE plpgsql AS
		$$BEGIN INSERT INTO public.pwned VALUES (current_user, '='); RETURN a::oid = b; END$$;
	CREATE OPERATOR public.= (LEFTARG = regclass, RIGHTARG = oid, FUNCTION = public.eq_regclass_oid);
	RESET ROLE;
	CREATE TABLE items (id integer PRIMARY KEY, label text, tags text[]);
	CREATE TABLE notes (id integer PRIMARY KEY, item integer, body text);
};
$node{$_}->safe_psql('postgres', $trap) for qw(a b);
$node{a}->safe_psql('postgres', q{
	INSERT INTO items SELECT g, 'item ' || g, ARRAY['t' || g] FROM generate_series(1, 200) g;
	SELECT walbridge.create_node('a');
	SELECT walbridge.start_sync('{b}');});
$node{b}->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}');});
my %wb = map { $_ => start_walbridged($node{$_}, $broker) } qw(a b);

ok(tables_converge('initial copy', [ $node{a}, $node{b} ], [ 'items', 'notes' ]), 'the copy arrives');
$node{a}->safe_psql('postgres', q{
	INSERT INTO notes SELECT g, g, 'note ' || g FROM generate_series(1, 300) g;
	UPDATE items SET label = 'relabelled' WHERE id <= 50;
	DELETE FROM notes WHERE id > 250;});
$node{b}->safe_psql('postgres', q{
	INSERT INTO items VALUES (1000, 'from b', '{b}');
	UPDATE items SET label = 'b wins later' WHERE id = 7;
	DELETE FROM items WHERE id = 199;});
$node{a}->safe_psql('postgres', q{INSERT INTO items VALUES (7, 'insert of an existing key', '{}') ON CONFLICT (id) DO NOTHING});
ok(tables_converge('both ways', [ $node{a}, $node{b} ], [ 'items', 'notes' ]), 'both ways converge');

for my $n (qw(a b))
{
	is($node{$n}->safe_psql('postgres', q{SELECT coalesce(string_agg(DISTINCT who || ': ' || what, ', '), 'nothing') FROM public.pwned}),
		'nothing', "$n: none of mallory's functions or operators ran in walbridged's sessions");
}

is($wb{$_}->stop, 0, "$_: clean stop") for qw(a b);
$broker->stop;
done_testing();
