#!/usr/bin/perl
#
# t/010_epq.pl: EvalPlanQual over a join with a TopCalls table.
#
# Session A updates a local row and holds its lock; session B runs an
# UPDATE of the same row joined to the foreign table, and waits.  When A
# commits, B rechecks the new version of the row against the foreign row it
# had already read (EvalPlanQual, with the foreign row's whole-row copy), and
# applies its update on top of A's: nothing is lost, no row is doubled, and
# no request is sent for the recheck.  Then the same with A changing the
# row so that it no longer matches: B updates nothing.
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use TcTap qw(require_env psql_do standin standin_stat create_db add_server session_start
  session_send session_wait session_query session_end wait_for);
use Test::More;

my (undef, undef, $api_url) = require_env(qw(TC_PGHOST TC_PGPORT TC_API_URL));

$SIG{PIPE} = 'IGNORE';

my $db = 'tc_tap_epq';
create_db($db);
add_server($db, 'topcalls', "base_url '$api_url'",
	'phone_numbers (id uuid, number text, status text)');
psql_do($db, q{
	CREATE TABLE lines (k int PRIMARY KEY, pn uuid, hits int, note text);
	INSERT INTO lines VALUES
	  (1, '00000000-0000-4000-8000-000000000001', 0, NULL),
	  (2, '00000000-0000-4000-8000-000000000002', 0, NULL);
	ANALYZE lines;
});

my $update = q{UPDATE lines l SET hits = l.hits + 1, note = p.number
  FROM phone_numbers p WHERE p.id = l.pn AND l.k = 1 AND p.status = 'active';};

for my $join ('nested loop', 'hash join')
{
	my $set = $join eq 'nested loop'
	  ? 'SET enable_hashjoin = off; SET enable_mergejoin = off;'
	  : 'SET enable_nestloop = off; SET enable_mergejoin = off;';
	psql_do($db, 'UPDATE lines SET hits = 0, note = NULL');
	my $a = session_start($db);
	my $b = session_start($db);
	session_query($b, $set);
	like(session_query($b, "EXPLAIN (COSTS OFF) $update"), $join eq 'nested loop' ? qr/Nested Loop/ : qr/Hash Join/,
		"$join: the plan joins as intended");

	# 1. A's update keeps the row matching: B's goes on top of it.
	session_query($a, 'BEGIN; UPDATE lines SET hits = hits + 10 WHERE k = 1;');
	standin('reset', '{}');
	my $marker = session_send($b, $update);
	ok(wait_for(sub {
		psql_do($db, "SELECT count(*) FROM pg_stat_activity WHERE pid = $b->{pid} AND wait_event_type = 'Lock'") eq '1'
	}), "$join: B waits for A's row lock");
	my $requests = standin_stat('requests');
	session_query($a, 'COMMIT;');
	my (undef, $err) = session_wait($b, $marker);
	is($err, '', "$join: B's update succeeded");
	is(psql_do($db, 'SELECT hits, note FROM lines WHERE k = 1'), '11|+15550000001',
		"$join: B's update applied on top of A's, with the foreign row's number");
	is(standin_stat('requests'), $requests, "$join: the recheck sent no request");

	# 2. A's update makes the row join no foreign row any more: B skips it.
	session_query($a, "BEGIN; UPDATE lines SET pn = '00000000-0000-4000-8000-000000000002' WHERE k = 1;");
	$marker = session_send($b, $update);
	ok(wait_for(sub {
		psql_do($db, "SELECT count(*) FROM pg_stat_activity WHERE pid = $b->{pid} AND wait_event_type = 'Lock'") eq '1'
	}), "$join: B waits again");
	session_query($a, 'COMMIT;');
	my ($out) = session_wait($b, $marker);
	is(psql_do($db, 'SELECT hits, pn FROM lines WHERE k = 1'), '11|00000000-0000-4000-8000-000000000002',
		"$join: the row that no longer joins the foreign row it was read with is left alone");
	psql_do($db, "UPDATE lines SET pn = '00000000-0000-4000-8000-000000000001' WHERE k = 1");
	session_end($_) for ($a, $b);
}

standin('reset', '{}');
psql_do('postgres', "DROP DATABASE $db");

done_testing();
