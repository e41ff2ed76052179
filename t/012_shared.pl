#!/usr/bin/perl
#
# t/012_shared.pl: the state every backend shares (issue 10), where it takes
# more than one session: sql/shared.sql has what one session can show.
#
# A node of the test's own, with shared_preload_libraries = 'topcalls_fdw'
# and topcalls_fdw.cache_size = 1 (MB), against the environment's stand-in
# (TC_API_URL).  Every check is of behaviour (rows, plans, the view's
# counters and the stand-in's), never of elapsed time:
#
#   a. the view's counters are exact when three sessions send requests at
#      once: they equal what the stand-in received;
#   b. the answer cache serves every backend: lookups and a list read once
#      cost once, per API key, until topcalls_fdw_cache_reset(); a list
#      larger than half the cache is read every time, and stays correct;
#   c. the table size a complete list read counted is what other backends'
#      planners use for an unanalyzed table, and topcalls_fdw_stats_reset()
#      forgets it;
#   d. on a hot standby (pg_basebackup -R, also preloaded): lookups, lists,
#      the view, its reset and the cache all work, read-only;
#   e. the rate limiter is shared (another backend's request waits behind a
#      scan's turns); an ERROR and a cancel while a scan waits for its turns
#      leave the server usable; and, on a node of its own, a backend killed
#      with SIGKILL in the middle of a request: the postmaster reinitializes
#      shared memory, and afterwards lookups, the view and the limiter work.
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TcTap qw(require_env psql_try psql_do standin standin_stats create_db
  add_server wait_for session_start session_send session_wait session_query
  session_end backend_waiting backend_gone);
use Test::More;

my ($api_url) = require_env(qw(TC_API_URL));

# psql sessions that end (killed backends) may go before we stop writing
$SIG{PIPE} = 'IGNORE';

my $db = 'tc_tap_shared';
my $view_cols = 'requests, retries, responses_2xx, responses_404, responses_4xx,'
  . ' responses_5xx, rate_limited, transport_errors, cache_hits, cache_misses';

# The phone number id i, and its number, as the stand-in makes them.
sub pn_id { return sprintf('00000000-0000-4000-8000-%012d', $_[0]) }
sub pn_number { return sprintf('+1555%07d', $_[0]) }

# The view's counters of one server, summed over its rows (one per key), as
# a hash reference; every counter is 0 if the server has no row.
sub view_sums
{
	my ($node, $server, $dbname) = @_;
	my @cols = split /,\s*/, $view_cols;
	my $sums = join ', ', map { "coalesce(sum($_), 0)" } @cols;
	my @values = split /\|/,
	  psql_do($dbname // $db, "SELECT $sums FROM topcalls_fdw_stats WHERE server = '$server'", $node);
	my %h;
	@h{@cols} = @values;
	return \%h;
}

# The estimated rows of the foreign scan of "SELECT * FROM $table", from a
# session of its own.
sub plan_rows
{
	my ($node, $table) = @_;
	my $json = psql_do($db, "EXPLAIN (FORMAT JSON) SELECT * FROM $table", $node);
	return JSON::PP::decode_json($json)->[0]{Plan}{'Plan Rows'};
}

# ---------------------------------------------------------------------------
# The node: preloaded, a 1 MB cache, able to stream to a standby.
# ---------------------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'topcalls_fdw'
topcalls_fdw.cache_size = 1
wal_level = replica
max_connections = 30
});
$node->start;

is(psql_do('postgres', 'SHOW topcalls_fdw.cache_size', $node), '1MB',
	'topcalls_fdw.cache_size is defined when preloaded');

create_db($db, undef, $node);
psql_do($db, q{
	-- ids lo..hi as an array (a constant to the planner)
	CREATE FUNCTION pn_ids(lo int, hi int) RETURNS uuid[] IMMUTABLE
	LANGUAGE sql AS $$
	    SELECT array_agg(format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid ORDER BY i)
	      FROM generate_series(lo, hi) AS i
	$$;
}, $node);

# ---------------------------------------------------------------------------
# a. Counters from three concurrent sessions are exact.
# ---------------------------------------------------------------------------
add_server($db, 'counted', "base_url '$api_url', page_size '20'",
	'counted_numbers (id uuid, number text)', $node);
# A fixed size for the planner: else, once session 2 has read the whole list
# (50 rows), session 1's 60 ids would be planned as a list read.
psql_do($db, "ALTER FOREIGN TABLE counted_numbers OPTIONS (ADD rows '10000')", $node);
standin('reset', '{}');
psql_do($db, 'SELECT topcalls_fdw_stats_reset()', $node);
# one 503 somewhere (it is retried: one more request, one retry)
standin('faults', '[{"kind": "lookup", "status": 503, "times": 1}]');
{
	my @s = map { session_start($db, $node) } 1 .. 3;
	# 1: 60 concurrent lookups, of which 10 (ids 51..60) answer 404, 3 times
	# 2: the whole list, 3 pages of 20, 3 times
	# 3: 10 single lookups, one after the other
	my @work = (
		[ ("SELECT count(*) FROM counted_numbers WHERE id = ANY (pn_ids(1, 60));") x 3 ],
		[ ("SELECT count(*), count(DISTINCT id) FROM counted_numbers;") x 3 ],
		[ map { "SELECT number FROM counted_numbers WHERE id = '" . pn_id($_) . "';" } 1 .. 10 ]);
	my @want = ([ ('50') x 3 ], [ ('50|50') x 3 ], [ map { pn_number($_) } 1 .. 10 ]);
	my @markers = map { session_send($s[$_], join("\n", @{ $work[$_] })) } 0 .. 2;
	for my $i (0 .. 2)
	{
		my ($out, $err) = session_wait($s[$i], $markers[$i]);
		is($out, join("\n", @{ $want[$i] }), 'concurrent session ' . ($i + 1) . ': its rows');
		is($err, '', 'concurrent session ' . ($i + 1) . ': no error');
	}
	session_end($_) for @s;
}
{
	my $st = standin_stats();
	my $v = view_sums($node, 'counted');
	# 180 lookups + 1 retry of the 503 + 9 pages + 10 lookups
	is($st->{requests}, 200, 'the stand-in received the requests sent');
	is($v->{requests}, $st->{requests}, 'view: requests = the requests the stand-in received');
	is($v->{responses_404}, $st->{not_found}, "view: responses_404 = the stand-in's not_found");
	is($v->{responses_404}, 30, '... 30 of them');
	is($v->{responses_5xx} + $v->{responses_4xx}, $st->{errors}, "view: 4xx + 5xx = the stand-in's errors");
	is($v->{responses_5xx}, 1, '... the one 503');
	is($v->{retries}, 1, 'view: the 503 was retried once');
	is($v->{responses_2xx}, $st->{requests} - $st->{not_found} - $st->{errors},
		'view: responses_2xx = every other answer');
	is($v->{rate_limited} + $v->{transport_errors}, 0, 'view: no 429, no transport error');
	is($st->{lists}, 9, 'the stand-in served 9 pages');
	is(psql_do($db, "SELECT count(*), bool_and(shared) FROM topcalls_fdw_stats WHERE server = 'counted'", $node),
		'1|t', 'view: one row of the server and key, shared');
}
standin('faults', '[]');

# ---------------------------------------------------------------------------
# b. The cache, across backends.
# ---------------------------------------------------------------------------
add_server($db, 'cached', "base_url '$api_url', cache_ttl_ms '600000', page_size '20'",
	'cached_numbers (id uuid, number text)', $node);
psql_do($db, q{
	CREATE ROLE tc_other_key;
	GRANT USAGE ON FOREIGN SERVER cached TO tc_other_key;
	GRANT SELECT ON cached_numbers TO tc_other_key;
	CREATE USER MAPPING FOR tc_other_key SERVER cached OPTIONS (api_key 'tc_nocalls_key');
}, $node);
standin('reset', '{}');
psql_do($db, 'SELECT topcalls_fdw_cache_reset(); SELECT topcalls_fdw_stats_reset()', $node);
{
	my $q50 = "SELECT count(*), md5(string_agg(number, ',' ORDER BY id)) FROM cached_numbers"
	  . ' WHERE id = ANY (pn_ids(1, 50));';
	my $want = psql_do('postgres', "SELECT '50|' || md5(string_agg(format('+1555%s', lpad(i::text, 7, '0')), ',' ORDER BY i)) FROM generate_series(1, 50) i", $node);
	my $a = session_start($db, $node);
	my $b = session_start($db, $node);
	isnt($a->{pid}, $b->{pid}, 'cache: two backends');
	is(session_query($a, $q50), $want, 'cache: session A looks up 50 ids');
	is(standin_stats()->{lookups}, 50, '... 50 requests');
	is(session_query($b, $q50), $want, "cache: session B looks up the same 50 ids: the same rows");
	is(standin_stats()->{lookups}, 50, '... from the cache A filled: no request');
	is(psql_do($db, "SELECT cache_hits, cache_misses FROM topcalls_fdw_stats WHERE server = 'cached'", $node),
		'50|50', "view: A's 50 misses, B's 50 hits");

	my $c = session_start($db, $node);
	session_query($c, 'SET ROLE tc_other_key;');
	is(session_query($c, $q50), $want, 'cache: a session with another API key: the same rows');
	is(standin_stats()->{lookups}, 100, "... its own 50 requests: one key's answers are not another's");

	psql_do($db, 'SELECT topcalls_fdw_cache_reset()', $node);
	is(session_query($a, $q50), $want, 'cache: after topcalls_fdw_cache_reset(), the same rows');
	is(standin_stats()->{lookups}, 150, '... and 50 requests again');

	# A complete list read (50 rows, 3 pages of 20), in two backends: one read.
	standin('reset', '{}');
	is(session_query($a, 'SELECT count(*), count(DISTINCT id) FROM cached_numbers;'), '50|50',
		'cache: session A reads the list');
	is(standin_stats()->{lists}, 3, '... 3 pages');
	is(session_query($b, 'SELECT count(*), count(DISTINCT id) FROM cached_numbers;'), '50|50',
		'cache: session B reads the list: the same rows');
	is(standin_stats()->{lists}, 3, '... from the cache: no page read again');

	# A list larger than half the cache (3000 phone numbers, some 1.3 MB of
	# answers against an entry's limit of half of 1 MB) is not stored: every
	# scan reads it all, and still returns every row once.
	add_server($db, 'bigcached', "base_url '$api_url', cache_ttl_ms '600000'",
		'big_numbers (id uuid, number text)', $node);
	standin('reset', '{}');
	standin('config', '{"count": 3000}');
	is(session_query($a, 'SELECT count(*), count(DISTINCT id) FROM big_numbers;'), '3000|3000',
		'cache: a list larger than the cache can hold: every row, once');
	is(standin_stats()->{lists}, 15, '... 15 pages of 200');
	is(session_query($b, 'SELECT count(*), count(DISTINCT id) FROM big_numbers;'), '3000|3000',
		'cache: read again in another session: every row, once');
	is(standin_stats()->{lists}, 30, '... read again: it was not stored');
	# the small list is still served from the cache (nothing got corrupted)
	my $lists = standin_stats()->{lists};
	standin('config', '{"count": 50}');
	is(session_query($b, 'SELECT count(*), count(DISTINCT id) FROM cached_numbers;'), '50|50',
		'cache: the small list, after the big one');
	is(standin_stats()->{lists}, $lists, '... still from the cache');

	# One fetch per request at a time: three sessions that want the same 50
	# ids, and then the same list, at the same moment (each answer takes
	# 300 ms) cost 50 lookups and one read of the list, not three.  (The
	# statistics' reset makes the planners forget the size the list reads
	# above taught them: 50 ids of a 50-row table would read the list.)
	psql_do($db, 'SELECT topcalls_fdw_cache_reset(); SELECT topcalls_fdw_stats_reset()', $node);
	standin('reset', '{}');
	standin('config', '{"latency_ms": 300}');
	my $d = session_start($db, $node);
	my @markers = map { [ $_, session_send($_, $q50) ] } ($a, $b, $d);
	is((session_wait($_->[0], $_->[1]))[0], $want,
		'cache: three sessions want the same 50 ids at once: the same rows')
	  for @markers;
	is(standin_stats()->{lookups}, 50, '... 50 requests: the others waited for the first');
	my $list_q = 'SELECT count(*), count(DISTINCT id) FROM cached_numbers;';
	@markers = map { [ $_, session_send($_, $list_q) ] } ($a, $b, $d);
	is((session_wait($_->[0], $_->[1]))[0], '50|50',
		'cache: three sessions read the same list at once: every row')
	  for @markers;
	is(standin_stats()->{lists}, 3, '... its 3 pages once');
	standin('config', '{"latency_ms": 0}');
	session_end($_) for ($a, $b, $c, $d);
}
standin('reset', '{}');

# ---------------------------------------------------------------------------
# c. The size a complete list read counted, for every backend's planner.
#
# An unanalyzed table without the rows option is planned at 10 000 rows:
# a join from 10 local rows runs as 10 lookups.  Once a session has read
# the whole list of 50, the planners of other sessions know the table has
# 50 rows, and reading those 50 (one page) is cheaper than 10 lookups.
# ---------------------------------------------------------------------------
add_server($db, 'sized', "base_url '$api_url'", 'sized_numbers (id uuid, number text)', $node);
psql_do($db, q{
	CREATE TABLE ten AS
	  SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid AS id
	    FROM generate_series(1, 10) AS i;
	ANALYZE ten;
	SELECT topcalls_fdw_stats_reset();
}, $node);
{
	my $join = 'EXPLAIN SELECT t.id, s.number FROM ten t JOIN sized_numbers s ON s.id = t.id';
	my $lookups = qr{TopCalls Request: GET /v1/phone-numbers/\{id\}};
	my $list = qr{TopCalls Request: GET /v1/phone-numbers\?limit=};
	my $ten_rows = "SELECT count(*) FROM ten t JOIN sized_numbers s ON s.id = t.id";

	my $plan = psql_do($db, $join, $node);
	like($plan, $lookups, 'sizes: unknown size: the 10-row join runs as lookups');
	unlike($plan, $list, '... not as a list read');
	is(plan_rows($node, 'sized_numbers'), 10000, '... the planner assumes 10000 rows');
	is(psql_do($db, $ten_rows, $node), '10', '... and joins 10 rows');

	is(psql_do($db, 'SELECT count(*) FROM sized_numbers', $node), '50',
		'sizes: another session reads the whole list (50 rows)');
	$plan = psql_do($db, $join, $node);
	like($plan, $list, 'sizes: a new session plans the join as one list read');
	unlike($plan, $lookups, '... not as lookups');
	is(plan_rows($node, 'sized_numbers'), 50, '... the planner knows the table has 50 rows');
	is(psql_do($db, $ten_rows, $node), '10', '... and joins the same 10 rows');
	is(psql_do($db, "SELECT reltuples <= 0 FROM pg_class WHERE relname = 'sized_numbers'", $node),
		't', '... the table was never analyzed');

	standin('config', '{"count": 20000}');
	psql_do($db, 'SELECT topcalls_fdw_stats_reset()', $node);
	is(plan_rows($node, 'sized_numbers'), 10000, 'sizes: topcalls_fdw_stats_reset() forgets the size');
	is(psql_do($db, 'SELECT count(*) FROM sized_numbers', $node), '20000',
		'sizes: another session reads the whole list (now 20000 rows)');
	$plan = psql_do($db, $join, $node);
	like($plan, $lookups, 'sizes: a new session plans the join as lookups again');
	unlike($plan, $list, '... not as a list read');
	is(plan_rows($node, 'sized_numbers'), 20000, '... the planner knows the table has 20000 rows');

	# a filtered or partial read counts nothing: the size stays
	is(psql_do($db, 'SELECT count(*) FROM (SELECT * FROM sized_numbers LIMIT 5) x', $node), '5',
		'sizes: a read stopped by LIMIT');
	is(plan_rows($node, 'sized_numbers'), 20000, '... leaves the size as it was');
}
standin('reset', '{}');

# ---------------------------------------------------------------------------
# d. A hot standby (pg_basebackup -R), also preloaded: everything works
#    read-only, with the standby's own shared memory.
# ---------------------------------------------------------------------------
$node->backup('for_standby');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'for_standby', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
{
	is(psql_do($db, 'SELECT pg_is_in_recovery(), current_setting(\'transaction_read_only\'),'
		  . " current_setting('shared_preload_libraries')", $standby),
		't|on|topcalls_fdw', 'standby: in recovery, read-only, preloaded');
	my $s = session_start($db, $standby);
	is(session_query($s, "SELECT number FROM counted_numbers WHERE id = '" . pn_id(7) . "';"),
		pn_number(7), 'standby: a lookup by id');
	is(session_query($s, 'SELECT count(*) FROM counted_numbers WHERE id = ANY (pn_ids(1, 20));'),
		'20', 'standby: 20 concurrent lookups');
	is(session_query($s, 'SELECT count(*), count(DISTINCT id) FROM counted_numbers;'), '50|50',
		'standby: a list scan');
	my $v = view_sums($standby, 'counted');
	is($v->{requests}, 24, 'standby: the view counts its 1 + 20 lookups and 3 pages');
	is($v->{requests}, standin_stats()->{requests}, "... which is what the stand-in received");
	is(psql_do($db, "SELECT count(*), bool_and(shared) FROM topcalls_fdw_stats WHERE server = 'counted'", $standby),
		'1|t', 'standby: its row, shared');
	session_query($s, "SELECT number FROM counted_numbers WHERE id = '" . pn_id(8) . "';");
	is(view_sums($standby, 'counted')->{requests}, 25, 'standby: the counters rise with the next query');
	is(psql_do($db, 'SELECT topcalls_fdw_stats_reset()', $standby), '',
		'standby: topcalls_fdw_stats_reset() runs');
	is(view_sums($standby, 'counted')->{requests}, 0, '... and zeroes the counters');

	# the cache: the second identical lookup sends nothing
	my $lookup = "SELECT number FROM cached_numbers WHERE id = '" . pn_id(9) . "';";
	my $before = standin_stats()->{lookups};
	is(session_query($s, $lookup), pn_number(9), 'standby: a lookup on the cached server');
	is(standin_stats()->{lookups}, $before + 1, '... one request');
	is(psql_do($db, $lookup, $standby), pn_number(9), 'standby: the same lookup, in another session');
	is(standin_stats()->{lookups}, $before + 1, '... from the cache: no request');
	is(psql_do($db, "SELECT cache_hits FROM topcalls_fdw_stats WHERE server = 'cached'", $standby),
		'1', "standby: the view counts the cache's hit");
	session_end($s);
}
$standby->stop;
standin('reset', '{}');

# ---------------------------------------------------------------------------
# e1. The rate limiter (1 request a second, no burst) is shared, and an
#     ERROR or a cancel while a scan waits for its turns leaves the server
#     usable.
# ---------------------------------------------------------------------------
add_server($db, 'limited', "base_url '$api_url', rate_limit '1', rate_burst '1'",
	'limited_numbers (id uuid, number text)', $node);
{
	my $s = session_start($db, $node);
	my $six = 'SELECT count(*) FROM limited_numbers WHERE id = ANY (pn_ids(1, 6));';
	my $five = 'SELECT count(*) FROM limited_numbers WHERE id = ANY (pn_ids(1, 5));';
	my $one = "SELECT number FROM limited_numbers WHERE id = '" . pn_id(7) . "';";

	# A lookup of 6 ids takes the turns at 0, 1, ... 5 s.  Once two requests
	# went out, the scan waits for its third turn.
	my $marker = session_send($s, $six);
	ok(wait_for(sub { standin_stats()->{lookups} >= 2 }), 'limiter: the scan sent its first requests');
	ok(wait_for(sub { backend_waiting($db, $s->{pid}, $node) }), '... and waits for its next turn');
	# Meanwhile another backend's request would come after those turns: with
	# a statement_timeout of 1 s it is refused at once.
	my ($ok, undef, $err) = psql_try($db, "SET statement_timeout = '1s'; $one", $node);
	like($err, qr/ERROR:  rate_limit of server "limited" would delay a request past statement_timeout/,
		"limiter: another backend's request waits behind the scan's turns: the limiter is shared");

	# cancel the scan while it waits
	psql_do($db, "SELECT pg_cancel_backend($s->{pid})", $node);
	($ok, $err) = session_wait($s, $marker);
	like($err, qr/ERROR:\s+57014: canceling statement due to user request/, 'limiter: the wait was canceled');
	my $sent = standin_stats()->{lookups};
	cmp_ok($sent, '<', 6, '... before the scan had sent all its requests');
	is(session_query($s, $one), pn_number(7), 'limiter: the next query of the session works');
	is(psql_do($db, $one, $node), pn_number(7), '... and so does one of another session');
	is(standin_stats()->{lookups}, $sent + 2, '... and the canceled scan sent nothing more');

	# an ERROR (a 400 for the third id) while the others wait for their turns
	standin('faults', '[{"kind": "lookup", "path_regex": "000000000003$", "status": 400, "times": 1}]');
	(undef, $err) = session_wait($s, session_send($s, $five));
	like($err, qr/ERROR:.*400/, 'limiter: a 400 while the other ids wait for their turns is an ERROR');
	$sent = standin_stats()->{lookups};
	is(session_query($s, $five), '5', 'limiter: the same query then works, in the same session');
	is(standin_stats()->{lookups}, $sent + 5, '... with its 5 requests');
	is(view_sums($node, 'limited')->{requests}, standin_stats()->{requests},
		"limiter: the view's count is still what the stand-in received");
	cmp_ok(psql_do($db, "SELECT throttled_ms FROM topcalls_fdw_stats WHERE server = 'limited'", $node),
		'>', 0, '... and the view shows the waits for turns');
	standin('faults', '[]');
	session_end($s);
}
standin('reset', '{}');

# ---------------------------------------------------------------------------
# e2. A backend killed with SIGKILL in the middle of a request.
#
# On a node of its own, with restart_after_crash on (the test framework
# turns it off).  Its server log goes to its data directory (the logging
# collector), not to tmp_check/log: run-tests.sh fails the run on any
# "terminated by signal" there, and here one is intended.  This test checks
# that log itself: the one expected crash, and no other.
# ---------------------------------------------------------------------------
my $crash = PostgreSQL::Test::Cluster->new('crash');
$crash->init;
$crash->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'topcalls_fdw'
restart_after_crash = on
logging_collector = on
log_directory = 'log'
log_filename = 'server.log'
});
$crash->start;
my $crash_log = $crash->data_dir . '/log/server.log';
create_db($db, undef, $crash);
add_server($db, 'topcalls', "base_url '$api_url'", 'phone_numbers (id uuid, number text)', $crash);
add_server($db, 'limited', "base_url '$api_url', rate_limit '1', rate_burst '1'",
	'limited_numbers (id uuid, number text)', $crash);
{
	my $lookup = "SELECT number FROM phone_numbers WHERE id = '" . pn_id(1) . "';";
	my $witness = session_start($db, $crash);
	my $victim = session_start($db, $crash);
	is(session_query($victim, $lookup), pn_number(1), 'crash: a lookup works');
	cmp_ok(view_sums($crash, 'topcalls', $db)->{requests}, '>=', 1, '... and is counted');

	standin('config', '{"latency_ms": 5000}');
	session_send($victim, $lookup);
	ok(wait_for(sub { backend_waiting($db, $victim->{pid}, $crash) }), 'crash: the backend waits for the answer');
	is(kill('KILL', $victim->{pid}), 1, 'crash: SIGKILL to the backend');
	eval { $victim->{h}->finish };
	standin('config', '{"latency_ms": 0}');

	# the postmaster ends every other backend and reinitializes shared memory
	ok(wait_for(sub { slurp_file($crash_log) =~ /all server processes terminated; reinitializing/ }),
		'crash: the postmaster reinitializes');
	ok(wait_for(sub { (psql_try($db, 'SELECT 1', $crash))[0] }), 'crash: the server accepts connections again');
	ok(wait_for(sub { backend_gone($witness->{pid}, $crash) }), "crash: the other sessions' backends were ended");
	eval { $witness->{h}->finish };
	is(psql_do($db, "SELECT count(*) FROM topcalls_fdw_stats", $crash), '0',
		'crash: the view starts afresh (shared memory was reinitialized)');

	my $s = session_start($db, $crash);
	is(session_query($s, $lookup), pn_number(1), 'crash: afterwards, a lookup works');
	is(session_query($s, "SELECT requests, shared FROM topcalls_fdw_stats WHERE server = 'topcalls';"),
		'1|t', '... and the view counts it');
	is(session_query($s, 'SELECT count(*) FROM phone_numbers;'), '50', '... a list read works');
	# the limiter: 3 ids at 1 a second wait for their turns, and a turn past
	# statement_timeout is an error at once
	is(session_query($s, "SELECT count(*) FROM limited_numbers WHERE id IN ('" . pn_id(1) . "', '"
		  . pn_id(2) . "', '" . pn_id(3) . "');"), '3', 'crash: afterwards, the rate-limited server works');
	cmp_ok(session_query($s, "SELECT throttled_ms FROM topcalls_fdw_stats WHERE server = 'limited';"),
		'>', 0, '... its requests waited for their turns');
	my (undef, $err) = session_wait($s, session_send($s,
		"SET statement_timeout = '500ms'; SELECT count(*) FROM limited_numbers WHERE id IN ('"
		  . pn_id(4) . "', '" . pn_id(5) . "'); RESET statement_timeout;"));
	like($err, qr/ERROR:\s+53400: rate_limit of server "limited" would delay a request past statement_timeout/,
		'... and a turn past statement_timeout is refused at once');
	session_end($s);

	my $log = slurp_file($crash_log);
	like($log, qr/(?:server process|client backend) \(PID $victim->{pid}\) was terminated by signal 9/,
		'crash: the log shows the killed backend');
	my @crashes = grep { !/\(PID $victim->{pid}\)/ }
	  grep { /was terminated by signal|exited with exit code|PANIC:/ } split /\n/, $log;
	is(join("\n", @crashes), '', '... and no other crash');
}
$crash->stop;

$node->stop;
done_testing();
