#!/usr/bin/perl
#
# t/006_connect.pl: connecting to the API, when it does not go well.
#
# A listening socket that never accepts and never speaks (the kernel still
# completes TCP handshakes into its backlog) stands in for a server that
# hangs; a port nobody listens on, for one that is down.
#
#   - https to the silent server: the TLS handshake never ends, and
#     connect_timeout_ms (300 ms) cuts it long before timeout_ms (60 s):
#     "unable to establish connection" (HV00N), not retried;
#   - plain http to it: the connection is made and the request sent, then
#     no answer: timeout_ms (500 ms) ends it (HV000), not retried;
#   - statement_timeout cancels a query stuck in the TLS handshake (57014);
#   - a refused connection is transient: retried max_retries times, then
#     HV00N "after N attempts";
#   - after each, the session works.
#
# Elapsed times are only bounded from above, generously (10 s against
# timeouts of 60 s), so a slow machine does not make the test fail.
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IO::Socket::INET;
use IPC::Run ();
use TcTap qw(require_env psql_cmd psql_do create_db add_server);
use Test::More;
use Time::HiRes qw(time);

my (undef, undef, $api_url) = require_env(qw(TC_PGHOST TC_PGPORT TC_API_URL));

my $db = 'tc_tap_connect';
my $id1 = '00000000-0000-4000-8000-000000000001';
my $bound = 10;

# A session of its own for each statement list; returns (ok, stdout, stderr, seconds).
sub psql_script
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $t0 = time;
	my $ok = IPC::Run::run(
		[ psql_cmd(), '-qAt', '-v', 'VERBOSITY=verbose', '-d', $db ],
		'<', \$sql, '>', \$out, '2>', \$err, IPC::Run::timeout(120));
	chomp $out;
	return ($ok, $out, $err, time - $t0);
}

my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 128, ReuseAddr => 1)
  or die "cannot listen: $!";
my $silent_port = $silent->sockport;
my $closed = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
my $closed_port = $closed->sockport;
close $closed;    # now nobody listens there

create_db($db);
add_server($db, 'hang_tls',
	"base_url 'https://localhost:$silent_port', connect_timeout_ms '300', timeout_ms '60000', max_retries '2'",
	't_hang_tls (id uuid, number text)');
add_server($db, 'hang_http',
	"base_url 'http://127.0.0.1:$silent_port', connect_timeout_ms '60000', timeout_ms '500', max_retries '2'",
	't_hang_http (id uuid, number text)');
add_server($db, 'down', "base_url 'http://127.0.0.1:$closed_port', connect_timeout_ms '60000', max_retries '2'",
	't_down (id uuid, number text)');
add_server($db, 'fine', "base_url '$api_url'", 't_fine (id uuid, number text)');

my $works = "SELECT number FROM t_fine WHERE id = '$id1';";

# 1. https, the handshake hangs: connect_timeout_ms.
my ($ok, $out, $err, $secs) = psql_script("SELECT * FROM t_hang_tls WHERE id = '$id1';\n$works");
like($err, qr/ERROR:\s+HV00N: could not connect to the TopCalls API for GET \S+\n/,
	'TLS handshake hangs: HV00N, without retries');
like($err, qr/DETAIL:.*time/i, '... the detail says it timed out');
cmp_ok($secs, '<', $bound, sprintf('... after %.2f s: connect_timeout_ms, not timeout_ms (60 s)', $secs));
is($out, '+15550000001', '... and the session works after');

# 2. plain http, no answer: timeout_ms.
($ok, $out, $err, $secs) = psql_script("SELECT * FROM t_hang_http WHERE id = '$id1';\n$works");
like($err, qr/ERROR:\s+HV000: request GET \S+ to the TopCalls API failed\n/,
	'no answer: HV000, without retries');
like($err, qr/DETAIL:\s+The transfer failed: Operation timed out after \d+ milliseconds with 0 bytes received/,
	'... the detail says it timed out');
cmp_ok($secs, '<', $bound, sprintf('... after %.2f s: timeout_ms', $secs));
is($out, '+15550000001', '... and the session works after');

# 3. statement_timeout while the TLS handshake hangs (connect_timeout_ms 60 s).
psql_do($db, "ALTER SERVER hang_tls OPTIONS (SET connect_timeout_ms '60000')");
($ok, $out, $err, $secs) = psql_script(
	"SET statement_timeout = '300ms';\nSELECT * FROM t_hang_tls WHERE id = '$id1';\nRESET statement_timeout;\n$works");
like($err, qr/ERROR:\s+57014: canceling statement due to statement timeout/,
	'statement_timeout during the TLS handshake: 57014');
cmp_ok($secs, '<', $bound, sprintf('... after %.2f s', $secs));
is($out, '+15550000001', '... and the session works after');

# 4. refused: transient, retried.
($ok, $out, $err, $secs) = psql_script("SELECT * FROM t_down WHERE id = '$id1';\n$works");
like($err, qr/ERROR:\s+HV00N: could not connect to the TopCalls API for GET \S+ after 3 attempts\n/,
	'connection refused: HV00N after max_retries + 1 = 3 attempts');
is($out, '+15550000001', '... and the session works after');
($ok, $out, $err, $secs) = psql_script("SELECT count(*) FROM t_down;\n$works");
like($err, qr/ERROR:\s+HV00N: could not connect to the TopCalls API for GET \/v1\/phone-numbers\?limit=200 after 3 attempts\n/,
	'... a list scan too');

close $silent;
psql_do('postgres', "DROP DATABASE $db");
done_testing();
