#!/usr/bin/perl
#
# t/008_postmaster_death.pl: a backend waiting on the API exits when the
# postmaster dies, within one wait slice, as WL_EXIT_ON_PM_DEATH makes a
# latch wait do.
#
# A cluster of the test's own (it is killed): a lookup whose answer the
# stand-in holds back for 30 s, then SIGKILL to the postmaster.  Before the
# fix the backend went on waiting for the answer (and its retries); now it
# must be gone within a second.  Then the cluster starts again and works.
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TcTap qw(require_env psql_do standin create_db add_server session_start session_send
  session_query backend_waiting wait_for process_gone);
use Test::More;
use Time::HiRes qw(time sleep);

my ($api_url) = require_env(qw(TC_API_URL));

$SIG{PIPE} = 'IGNORE';

my $db = 'tc_tap_pm_death';
my $id1 = '00000000-0000-4000-8000-000000000001';
my $lookup = "SELECT number FROM phone_numbers WHERE id = '$id1';";

my $node = PostgreSQL::Test::Cluster->new('pm_death');
$node->init;
$node->start;
create_db($db, undef, $node);
add_server($db, 'topcalls', "base_url '$api_url'", 'phone_numbers (id uuid, number text)', $node);

standin('reset', '{}');
my $s = session_start($db, $node);
is(session_query($s, $lookup), '+15550000001', 'a lookup works');

# The answer to the next lookup comes after 30 s.
standin('faults', '[{"delay_ms": 30000, "times": 1}]');
session_send($s, $lookup);
ok(wait_for(sub { backend_waiting($db, $s->{pid}, $node) }), 'the backend waits in the FDW');
sleep 0.2;

my $postmaster = $node->{_pid};
my $t0 = time;
$node->kill9;
sleep 0.01 until process_gone($s->{pid}) || time - $t0 > 20;
my $secs = time - $t0;
ok(process_gone($s->{pid}), 'the waiting backend exited');
cmp_ok($secs, '<', 1, sprintf('... %.2f s after the postmaster died', $secs));
eval { $s->{h}->finish };

# The cluster comes back and works, once the dead postmaster is reaped
# (until then its PID in postmaster.pid looks alive).
standin('faults', '[]');
ok(wait_for(sub { !kill(0, $postmaster) }), 'the dead postmaster was reaped');
$node->start;
is(psql_do($db, $lookup, $node), '+15550000001', 'after a restart, lookups work');
$node->stop;

done_testing();
