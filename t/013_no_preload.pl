#!/usr/bin/perl
#
# t/013_no_preload.pl: the shared state (issue 10) without
# shared_preload_libraries, and the update of the extension from 1.0.
#
# A node of the test's own, not preloaded, against the environment's
# stand-in (TC_API_URL):
#
#   - the size settings (topcalls_fdw.cache_size, .max_servers) are not
#     defined: they only mean something when the memory is reserved at
#     startup;
#   - PostgreSQL 13-16: every backend has its own limiter, statistics and
#     cache.  They all work within the backend, the view says shared = false,
#     another backend sees none of it, and each backend says so once, at
#     DEBUG1;
#   - PostgreSQL 17+: the DSM registry shares them: shared = true, and two
#     sessions see the same counters, cache and limiter; no DEBUG1 note.
#
# Then, in fresh databases: CREATE EXTENSION ... VERSION '1.0' has none of
# 1.1's objects; ALTER EXTENSION ... UPDATE brings 1.1, whose objects,
# definitions and privileges are those of a fresh CREATE EXTENSION.
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TcTap qw(require_env psql_try psql_do standin standin_stats create_db
  add_server wait_for session_start session_send session_wait session_query
  session_end backend_waiting);
use Test::More;

my ($api_url) = require_env(qw(TC_API_URL));

$SIG{PIPE} = 'IGNORE';

my $db = 'tc_tap_nopreload';
my $note = qr/topcalls_fdw: no shared memory: rate limits, statistics and the cache are this backend's own/;

sub pn_id { return sprintf('00000000-0000-4000-8000-%012d', $_[0]) }
sub pn_number { return sprintf('+1555%07d', $_[0]) }
sub ids_in { return "id IN ('" . join("', '", map { pn_id($_) } @_) . "')" }

# How many times the note is in $text.
sub notes
{
	my ($text) = @_;
	my @n = $text =~ /$note/g;
	return scalar @n;
}

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->start;
my $version = psql_do('postgres', 'SHOW server_version_num', $node);
my $dsm = $version >= 170000;
note("server_version_num $version: " . ($dsm ? 'the DSM registry shares the state' : 'per backend'));

create_db($db, undef, $node);
add_server($db, 'plain', "base_url '$api_url'", 'plain_numbers (id uuid, number text)', $node);
add_server($db, 'cached', "base_url '$api_url', cache_ttl_ms '600000'",
	'cached_numbers (id uuid, number text)', $node);
add_server($db, 'limited', "base_url '$api_url', rate_limit '1', rate_burst '1'",
	'limited_numbers (id uuid, number text)', $node);
standin('reset', '{}');

# ---------------------------------------------------------------------------
# Two sessions, A and B.
# ---------------------------------------------------------------------------
my $a = session_start($db, $node);
my $b = session_start($db, $node);
my $view = "SELECT requests, responses_2xx, responses_404, shared FROM topcalls_fdw_stats WHERE server = 'plain';";

my ($out, $err) = session_wait($a, session_send($a, join "\n",
	'SET client_min_messages = debug1;',
	"SELECT count(*) FROM plain_numbers WHERE " . ids_in(1 .. 5, 99) . ';',
	$view,
	"SELECT number FROM plain_numbers WHERE id = '" . pn_id(7) . "';",
	'RESET client_min_messages;'));
is($out, "5\n6|5|1|" . ($dsm ? 't' : 'f') . "\n" . pn_number(7),
	'A: 6 lookups (one 404); the view counts them, shared = ' . ($dsm ? 'true (DSM registry)' : 'false'));
is(notes($err), $dsm ? 0 : 1, $dsm ? 'A: no note that the state is per backend'
	: 'A: the backend says once, at DEBUG1, that the state is its own');
is(session_query($a, $view), '7|6|1|' . ($dsm ? 't' : 'f'), "A: the view counts A's 7 requests");
is(standin_stats()->{requests}, 7, '... which is what the stand-in received');

($out, $err) = session_wait($b, session_send($b, join "\n",
	'SET client_min_messages = debug1;', $view, $view, 'RESET client_min_messages;'));
if ($dsm)
{
	is($out, "7|6|1|t\n7|6|1|t", "B: the view shows A's requests: the statistics are shared");
	is(notes($err), 0, 'B: no note');
}
else
{
	is($out, '', "B: the view has no row of the server: A's statistics are A's own");
	is(notes($err), 1, 'B: the note, once for this backend too');
}
is(session_query($b, "SELECT number FROM plain_numbers WHERE id = '" . pn_id(8) . "';"), pn_number(8),
	'B: a lookup');
is(session_query($b, $view), $dsm ? '8|7|1|t' : '1|1|0|f', 'B: the view counts ' . ($dsm ? 'both' : "B's own request"));
is(session_query($a, $view), $dsm ? '8|7|1|t' : '7|6|1|f', 'A: the view counts ' . ($dsm ? 'both' : "A's own requests"));
is(session_query($a, 'SELECT topcalls_fdw_stats_reset();'), '', 'A: topcalls_fdw_stats_reset() runs');
is(session_query($a, $view), ($dsm ? '0|0|0|t' : '0|0|0|f'), "... and zeroes A's view");
is(session_query($b, $view), $dsm ? '0|0|0|t' : '1|1|0|f', "B's view: " . ($dsm ? 'zeroed too' : 'untouched'));

# The size settings exist only when preloaded.
my ($ok, undef, $gucerr) = psql_try($db, "SELECT count(*) FROM plain_numbers WHERE id = '" . pn_id(1)
	  . "'; SHOW topcalls_fdw.cache_size;", $node);
ok(!$ok && $gucerr =~ /unrecognized configuration parameter "topcalls_fdw.cache_size"/,
	'topcalls_fdw.cache_size is not defined without preloading');

# ---------------------------------------------------------------------------
# The cache: within a backend always; across backends only with DSM.
# ---------------------------------------------------------------------------
{
	my $q = 'SELECT count(*) FROM cached_numbers WHERE id = ANY (ARRAY['
	  . join(', ', map { "'" . pn_id($_) . "'::uuid" } 1 .. 20) . ']);';
	standin('reset', '{}');
	is(session_query($a, $q), '20', 'cache: A looks up 20 ids');
	is(standin_stats()->{lookups}, 20, '... 20 requests');
	is(session_query($a, $q), '20', 'cache: A again');
	is(standin_stats()->{lookups}, 20, '... from the cache: no request');
	is(session_query($b, $q), '20', 'cache: B looks up the same ids');
	is(standin_stats()->{lookups}, $dsm ? 20 : 40,
		$dsm ? "... from the cache A filled: it is shared" : "... 20 requests of its own: A's cache is A's");
	is(session_query($b, "SELECT cache_hits, cache_misses FROM topcalls_fdw_stats WHERE server = 'cached';"),
		$dsm ? '40|20' : '0|20', "B's view of the cache's hits and misses");
	is(session_query($a, 'SELECT topcalls_fdw_cache_reset();'), '', 'cache: A resets the cache');
	is(session_query($a, $q), '20', 'cache: A looks the ids up again');
	is(standin_stats()->{lookups}, $dsm ? 40 : 60, '... 20 requests again');
}

# ---------------------------------------------------------------------------
# The rate limiter (1 request a second, no burst): within a backend always;
# across backends only with DSM.
# ---------------------------------------------------------------------------
{
	standin('reset', '{}');
	is(session_query($a, 'SELECT count(*) FROM limited_numbers WHERE ' . ids_in(1 .. 3) . ';'), '3',
		'limiter: A looks up 3 ids');
	cmp_ok(session_query($a, "SELECT throttled_ms FROM topcalls_fdw_stats WHERE server = 'limited';"),
		'>', 0, "... waiting for their turns");
	# any two requests of a statement are 1 s apart: past a 500 ms timeout
	my (undef, $err) = session_wait($a, session_send($a,
		"SET statement_timeout = '500ms';\nSELECT count(*) FROM limited_numbers WHERE "
		  . ids_in(4, 5) . ";\nRESET statement_timeout;"));
	like($err, qr/ERROR:\s+53400: rate_limit of server "limited" would delay a request past statement_timeout/,
		'limiter: a turn past statement_timeout is refused at once');

	# A takes the turns of the next 10 s; B, with a timeout of 2 s, is refused
	# if it shares A's limiter, and served at once if it has its own.
	my $marker = session_send($a, 'SELECT count(*) FROM limited_numbers WHERE ' . ids_in(1 .. 10) . ';');
	my $sent = standin_stats()->{lookups};
	ok(wait_for(sub { standin_stats()->{lookups} >= $sent + 2 && backend_waiting($db, $a->{pid}, $node) }),
		'limiter: A waits for its turns');
	my ($out, $berr) = session_wait($b, session_send($b,
		"SET statement_timeout = '2s';\nSELECT number FROM limited_numbers WHERE id = '" . pn_id(20)
		  . "';\nRESET statement_timeout;"));
	if ($dsm)
	{
		like($berr, qr/ERROR:\s+53400: rate_limit of server "limited"/,
			"limiter: B's request would come after A's: refused (the limiter is shared)");
	}
	else
	{
		is($out, pn_number(20), "limiter: B's request goes out at once (its limiter is its own)");
		is($berr, '', '... without an error');
	}
	psql_do($db, "SELECT pg_cancel_backend($a->{pid})", $node);
	my (undef, $aerr) = session_wait($a, $marker);
	like($aerr, qr/57014/, "limiter: A's wait canceled");
}

session_end($_) for ($a, $b);
standin('reset', '{}');

# ---------------------------------------------------------------------------
# The update from 1.0, against a fresh install of 1.1.
# ---------------------------------------------------------------------------
psql_do('postgres', 'CREATE ROLE tc_nobody', $node);
my $sharedir = psql_do('postgres', "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'", $node);
for my $d (qw(tc_tap_upgraded tc_tap_fresh))
{
	psql_do('postgres', "DROP DATABASE IF EXISTS $d", $node);
	psql_do('postgres', "CREATE DATABASE $d", $node);
}
psql_do('tc_tap_fresh', 'CREATE EXTENSION topcalls_fdw', $node);
psql_do('tc_tap_upgraded', "CREATE EXTENSION topcalls_fdw VERSION '1.0'", $node);
is(psql_do('tc_tap_upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'topcalls_fdw'", $node),
	'1.0', 'update: version 1.0 installed');
is(psql_do('tc_tap_upgraded', "SELECT to_regclass('topcalls_fdw_stats'), to_regprocedure('topcalls_fdw_stats()'),"
	  . " to_regprocedure('topcalls_fdw_stats_reset()'), to_regprocedure('topcalls_fdw_cache_reset()')", $node),
	'|||', '... without the view and functions of 1.1');
psql_do('tc_tap_upgraded', 'ALTER EXTENSION topcalls_fdw UPDATE', $node);
is(psql_do('tc_tap_upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'topcalls_fdw'", $node),
	'1.1', 'update: ALTER EXTENSION UPDATE brings 1.1');
add_server('tc_tap_upgraded', 'topcalls', "base_url '$api_url'", 'phone_numbers (id uuid, number text)', $node);
{
	# one session: without shared memory (before 17) the counters are its own
	my $s = session_start('tc_tap_upgraded', $node);
	is(session_query($s, "SELECT number FROM phone_numbers WHERE id = '" . pn_id(3) . "';"),
		pn_number(3), '... a lookup works');
	is(session_query($s, "SELECT requests FROM topcalls_fdw_stats WHERE server = 'topcalls';"),
		'1', '... and the view counts it');
	session_end($s);
}
psql_do('tc_tap_upgraded', 'DROP SERVER topcalls CASCADE', $node);

# Each query describes the extension's objects by name, so that the two
# databases compare.
my $members = q{(SELECT d.classid, d.objid, d.objsubid FROM pg_depend d
	WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'topcalls_fdw')) m};
my %compare = (
	'member objects' =>
	  "SELECT pg_describe_object(m.classid, m.objid, m.objsubid) FROM $members ORDER BY 1",
	'function definitions and ACLs' =>
	  "SELECT pg_get_functiondef(p.oid), p.proacl FROM $members JOIN pg_proc p ON p.oid = m.objid"
	  . " AND m.classid = 'pg_proc'::regclass ORDER BY p.oid::regprocedure::text",
	'view definition and ACL' =>
	  "SELECT c.relname, pg_get_viewdef(c.oid), c.relacl FROM $members JOIN pg_class c ON c.oid = m.objid"
	  . " AND m.classid = 'pg_class'::regclass ORDER BY 1",
	'view columns' =>
	  "SELECT attnum, attname, format_type(atttypid, atttypmod) FROM pg_attribute"
	  . " WHERE attrelid = 'topcalls_fdw_stats'::regclass AND attnum > 0 ORDER BY attnum",
	'initial privileges (pg_init_privs, for pg_dump)' =>
	  'SELECT pg_describe_object(classoid, objoid, objsubid), privtype, initprivs FROM pg_init_privs'
	  . " WHERE (classoid, objoid) IN (SELECT m.classid, m.objid FROM $members) ORDER BY 1",
	"PUBLIC's privileges" => q{
	  SELECT has_table_privilege('tc_nobody', 'topcalls_fdw_stats', 'SELECT'),
	         has_function_privilege('tc_nobody', 'topcalls_fdw_stats()', 'EXECUTE'),
	         has_function_privilege('tc_nobody', 'topcalls_fdw_stats_reset()', 'EXECUTE'),
	         has_function_privilege('tc_nobody', 'topcalls_fdw_cache_reset()', 'EXECUTE')});
for my $what (sort keys %compare)
{
	my $fresh = psql_do('tc_tap_fresh', $compare{$what}, $node);
	my $upgraded = psql_do('tc_tap_upgraded', $compare{$what}, $node);
	isnt($fresh, '', "update: $what: there are some");
	is($upgraded, $fresh, "update: $what: the same as a fresh install's")
	  or diag('install scripts: ' . join(' ', map { s{.*/}{}r } glob("$sharedir/extension/topcalls_fdw--*.sql"))
		  . (-e "$sharedir/extension/topcalls_fdw--1.1.sql"
			? ': a fresh CREATE EXTENSION runs topcalls_fdw--1.1.sql, not 1.0 and the update'
			  . ' (stale, from an older make install, unless the Makefile installs it)' : ''));
}
like(psql_do('tc_tap_fresh', $compare{'member objects'}, $node),
	qr/view topcalls_fdw_stats/, 'update: the view is a member of the extension');
is(psql_do('tc_tap_fresh', $compare{"PUBLIC's privileges"}, $node), 't|t|f|f',
	'update: PUBLIC may read the view, not reset anything');

psql_do('postgres', "DROP DATABASE $_", $node) for qw(tc_tap_upgraded tc_tap_fresh);
psql_do('postgres', "DROP DATABASE $db", $node);
psql_do('postgres', 'DROP ROLE tc_nobody', $node);
$node->stop;

done_testing();
