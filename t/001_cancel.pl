#!/usr/bin/perl
#
# t/001_cancel.pl: cancel and terminate a query waiting on the TopCalls API.
#
# Runs against the cluster and stand-in that test/run-tests.sh started
# (TC_PGHOST, TC_PGPORT, TC_API_URL), in a database of its own.  For each
# case a long-lived psql session (IPC::Run) starts a query the stand-in
# holds up, the test waits until the backend is really waiting (the stand-in
# has the request, pg_stat_activity shows the "Extension" wait event), then:
#
#   - pg_cancel_backend while the answer is delayed 30 s,
#   - pg_cancel_backend while sleeping 30 s before a retry (503 + Retry-After),
#   - Ctrl-C (SIGINT to psql, which sends a cancel request),
#   - pg_terminate_backend, in both kinds of wait,
#
# and checks the standard error (SQLSTATE 57014 for a cancel), that it came
# much sooner than the wait it interrupted (< 5 s of 30 s: generous, so the
# test does not depend on the machine's speed), and that the same session
# then runs a normal lookup.  A witness session open from start to end shows
# that no backend crashed (a crash restarts the server and ends every
# session); run-tests.sh also greps the server log for crashes.
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use TcTap qw(require_env psql_do standin create_db add_server standin_stat wait_for
  session_start session_send session_wait session_query session_end backend_waiting
  backend_gone process_gone);
use Test::More;
use Time::HiRes qw(time sleep);

my (undef, undef, $api_url) = require_env(qw(TC_PGHOST TC_PGPORT TC_API_URL));

# psql sessions that the test ends may go before we stop writing to them
$SIG{PIPE} = 'IGNORE';

my $db = 'tc_tap_cancel';
my $id1 = '00000000-0000-4000-8000-000000000001';
my $lookup = "SELECT number FROM phone_numbers WHERE id = '$id1';";
# How long a cancel may take to land, against waits of 30 s.
my $prompt_bound = 5;

# ---------------------------------------------------------------------------
# Setup: a database of our own, the extension, server, mapping and table.
# ---------------------------------------------------------------------------
create_db($db);
add_server($db, 'topcalls', "base_url '$api_url'", 'phone_numbers (id uuid, number text)');
standin('reset', '{}');

my $witness = session_start($db);
ok($witness->{pid} =~ /^\d+$/, "witness session started (pid $witness->{pid})");

my $a = session_start($db);
is(session_query($a, $lookup), '+15550000001', 'a normal lookup works');

# Start $sql in $s, wait until the backend waits in the FDW with the stand-in
# holding the request, then run $interrupt->().  Returns (seconds from the
# interrupt to the end of the query, stdout, stderr).
sub interrupt_case
{
	my ($s, $sql, $what, $interrupt) = @_;
	my $requests_before = standin_stat('requests');
	my $marker = session_send($s, $sql);
	ok(wait_for(sub { standin_stat('requests') > $requests_before }),
		"$what: the stand-in received the request");
	ok(wait_for(sub { backend_waiting($db, $s->{pid}) }), "$what: the backend waits in the FDW");
	sleep 0.2;    # well inside the wait
	my $t0 = time;
	$interrupt->();
	my ($out, $err) = session_wait($s, $marker);
	return (time - $t0, $out, $err);
}

# ---------------------------------------------------------------------------
# 1. pg_cancel_backend during a delayed answer.
# ---------------------------------------------------------------------------
standin('faults', '[{"delay_ms": 30000, "times": 1}]');
my ($secs, $out, $err) = interrupt_case($a, $lookup, 'delayed answer',
	sub { psql_do($db, "SELECT pg_cancel_backend($a->{pid})") });
like($err, qr/ERROR:\s+57014: canceling statement due to user request/,
	'delayed answer: canceled with SQLSTATE 57014');
cmp_ok($secs, '<', $prompt_bound, sprintf('delayed answer: the cancel landed in %.2f s', $secs));
is(session_query($a, $lookup), '+15550000001', 'delayed answer: the session works after the cancel');

# ---------------------------------------------------------------------------
# 2. pg_cancel_backend while sleeping before a retry.
# ---------------------------------------------------------------------------
standin('faults', '[{"status": 503, "times": 1, "headers": {"Retry-After": "30"}}]');
($secs, $out, $err) = interrupt_case($a, $lookup, 'retry sleep',
	sub { psql_do($db, "SELECT pg_cancel_backend($a->{pid})") });
like($err, qr/ERROR:\s+57014: canceling statement due to user request/,
	'retry sleep: canceled with SQLSTATE 57014');
cmp_ok($secs, '<', $prompt_bound, sprintf('retry sleep: the cancel landed in %.2f s', $secs));
is(session_query($a, $lookup), '+15550000001', 'retry sleep: the session works after the cancel');

# ---------------------------------------------------------------------------
# 3. Ctrl-C: SIGINT to psql, which sends a cancel request.  psql running a
#    script (as here, on a pipe) then stops the script and exits with 3.
# ---------------------------------------------------------------------------
{
	my $c = session_start($db);
	standin('faults', '[{"delay_ms": 30000, "times": 1}]');
	my $requests_before = standin_stat('requests');
	session_send($c, $lookup);
	ok(wait_for(sub { standin_stat('requests') > $requests_before }),
		'Ctrl-C: the stand-in received the request');
	ok(wait_for(sub { backend_waiting($db, $c->{pid}) }), 'Ctrl-C: the backend waits in the FDW');
	sleep 0.2;
	my $t0 = time;
	$c->{h}->signal('INT');
	eval { $c->{h}->finish };
	my $secs = time - $t0;
	like($c->{err}, qr/ERROR:\s+57014: canceling statement due to user request/,
		'Ctrl-C: canceled with SQLSTATE 57014');
	cmp_ok($secs, '<', $prompt_bound, sprintf('Ctrl-C: the cancel landed in %.2f s', $secs));
	ok(wait_for(sub { backend_gone($c->{pid}) }), 'Ctrl-C: psql ended its session');
}

# A list scan and concurrent lookups canceled alike.
standin('faults', '[{"delay_ms": 30000, "times": 8}]');
($secs, $out, $err) = interrupt_case($a,
	"SELECT count(*) FROM phone_numbers WHERE id = ANY (ARRAY(SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid FROM generate_series(1, 8) i));",
	'8 concurrent lookups', sub { psql_do($db, "SELECT pg_cancel_backend($a->{pid})") });
like($err, qr/ERROR:\s+57014/, '8 concurrent lookups: canceled with SQLSTATE 57014');
cmp_ok($secs, '<', $prompt_bound, sprintf('8 concurrent lookups: the cancel landed in %.2f s', $secs));
standin('faults', '[]');
is(session_query($a, "SELECT count(*) FROM phone_numbers WHERE id = ANY (ARRAY(SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid FROM generate_series(1, 8) i));"),
	'8', '8 concurrent lookups: the session works after the cancel');

# ---------------------------------------------------------------------------
# 4. pg_terminate_backend, in both waits: the backend ends, the server stays.
# ---------------------------------------------------------------------------
for my $case (
	[ 'delayed answer', '[{"delay_ms": 30000, "times": 1}]' ],
	[ 'retry sleep', '[{"status": 503, "times": 1, "headers": {"Retry-After": "30"}}]' ])
{
	my ($what, $faults) = @$case;
	my $b = session_start($db);
	standin('faults', $faults);
	my $requests_before = standin_stat('requests');
	session_send($b, $lookup);
	ok(wait_for(sub { standin_stat('requests') > $requests_before }),
		"terminate, $what: the stand-in received the request");
	ok(wait_for(sub { backend_waiting($db, $b->{pid}) }), "terminate, $what: the backend waits in the FDW");
	sleep 0.2;
	my $t0 = time;
	is(psql_do($db, "SELECT pg_terminate_backend($b->{pid})"), 't',
		"terminate, $what: pg_terminate_backend signalled the backend");
	sleep 0.01 until process_gone($b->{pid}) || time - $t0 > 20;
	my $secs = time - $t0;
	cmp_ok($secs, '<', $prompt_bound, sprintf('terminate, %s: the backend ended in %.2f s', $what, $secs));
	ok(backend_gone($b->{pid}), "terminate, $what: no such backend any more");
	# psql (running a script) reports the lost connection and exits
	eval { $b->{h}->finish };
	like($b->{err}, qr/terminating connection due to administrator command|server closed the connection/,
		"terminate, $what: the client was told");
}

# ---------------------------------------------------------------------------
# The server stayed up the whole time, and sessions work.
# ---------------------------------------------------------------------------
standin('faults', '[]');
is(session_query($witness, 'SELECT 42;'), '42', 'the witness session survived: no backend crashed');
is(session_query($witness, $lookup), '+15550000001', 'the witness session runs lookups');
is(session_query($a, $lookup), '+15550000001', 'the canceled session still runs lookups');
is(psql_do($db, $lookup), '+15550000001', 'a new session runs lookups');

session_end($_) for ($a, $witness);
standin('reset', '{}');
psql_do('postgres', "DROP DATABASE $db");

done_testing();
