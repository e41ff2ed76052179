#!/usr/bin/perl
#
# t/009_fd_limit.pl: libcurl's sockets stay within what fd.c lets a backend
# spend on external files.
#
# A cluster of the test's own with max_files_per_process = 64: fd.c then
# grants external files (AcquireExternalFD) up to a third of some 50 usable
# descriptors.  A server with max_concurrency '256' looks up 100 ids with
# 100 ms of latency each: the scan must run with as many requests in flight
# as the descriptors it was granted allow (a handful), not 100, and still
# return every row; and the backend can still open files of its own
# afterwards (a sort that spills to disk).
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TcTap qw(require_env psql_do standin standin_stat create_db add_server wait_for);
use Test::More;

my ($api_url) = require_env(qw(TC_API_URL));

my $db = 'tc_tap_fd_limit';

my $node = PostgreSQL::Test::Cluster->new('fd_limit');
$node->init;
$node->append_conf('postgresql.conf', "max_files_per_process = 64\n");
$node->start;
create_db($db, undef, $node);
add_server($db, 'topcalls', "base_url '$api_url', max_concurrency '256'",
	'phone_numbers (id uuid, number text)', $node);

my $ids = "ARRAY(SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid"
  . " FROM generate_series(1, 100) i)";

# The stand-in's in_flight_peak counts every client: requests that earlier
# tests left sleeping there (008's 30 s delay, the cancel tests' waits) would
# count as ours, so wait until they are gone.
ok(wait_for(sub { standin_stat('in_flight') == 0 })
	  || wait_for(sub { standin_stat('in_flight') == 0 }),
	'no request of an earlier test is still in flight at the stand-in');
standin('reset', '{}');
standin('config', '{"count": 200, "latency_ms": 100}');
is(psql_do($db, "SELECT count(*), count(DISTINCT number) FROM phone_numbers WHERE id = ANY ($ids)", $node),
	'100|100', 'every one of the 100 ids is looked up');
my $peak = standin_stat('in_flight_peak');
my $lookups = standin_stat('lookups');
is($lookups, 100, '100 lookups were sent');
cmp_ok($peak, '>=', 2, "more than one request was in flight ($peak)");
# A third of at most 54 descriptors is 18: 2 for libcurl's multi handle, 4
# per request in flight; the stand-in may count one more for an instant
# (a new request arriving before the last answer's bookkeeping ends).
cmp_ok($peak, '<=', 6, "no more in flight than a third of the descriptors allow ($peak)");

# fd.c's own files still open: in one statement, the lookups claim their
# descriptors, then a sort spills to temporary files.
psql_do('postgres', "ALTER DATABASE $db SET work_mem = '64kB'", $node);
is(psql_do($db, "SELECT (SELECT count(*) FROM phone_numbers WHERE id = ANY ($ids)),"
	  . " (SELECT count(*) FROM (SELECT g FROM generate_series(1, 200000) g ORDER BY g DESC) s)", $node),
	'100|200000', 'the backend looks up, then still opens files of its own');

standin('reset', '{}');
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|PANIC|out of file descriptors/, 'no crash, no descriptor trouble');

done_testing();
