#!/usr/bin/perl
#
# t/004_tls_verify.pl: TLS peer and host verification, with certificates
# made for the purpose (sql/security.sql covers the runner's self-signed
# one).  A private CA signs three server certificates:
#
#   good     for localhost and 127.0.0.1: works with ca_file = the CA, and
#            fails without ca_file (the CA is not in the system bundle);
#   wrong    for wrong.example only: fails on the host name, even though the
#            CA is trusted (VERIFYHOST);
#   expired  for localhost, expired: fails.
#
# Each is served by its own TLS stand-in.  Every failure must be "unable to
# establish connection" (HV00N) with a detail that says why, must come
# without retrying, and the stand-in must have received no HTTP request at
# all: the handshake failed before the Authorization header was sent.
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Temp ();
use IPC::Run ();
use TcTap qw(require_env set_psql_verbosity psql_try psql_do create_db add_server);
use Test::More;
use Time::HiRes qw(sleep);

my (undef, undef, $script) = require_env(qw(TC_PGHOST TC_PGPORT TC_STANDIN_SCRIPT));
set_psql_verbosity('verbose');

my $db = 'tc_tap_tls';
my $id1 = '00000000-0000-4000-8000-000000000001';
my $dir = File::Temp->newdir('/tmp/tc_tap_tls.XXXXXX');

sub run_ok
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err, IPC::Run::timeout(60))
	  or die "failed: @cmd\n$err";
	return $out;
}

# ---------------------------------------------------------------------------
# Certificates.
# ---------------------------------------------------------------------------
my @openssl = ('openssl');
run_ok(@openssl, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
	'-subj', '/CN=topcalls_fdw test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
	'-addext', 'keyUsage=critical,keyCertSign,cRLSign',
	'-keyout', "$dir/ca.key", '-out', "$dir/ca.pem");

sub leaf
{
	my ($name, $san, $days) = @_;
	run_ok(@openssl, 'req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-subj', "/CN=$name",
		'-keyout', "$dir/$name.key", '-out', "$dir/$name.csr");
	open(my $fh, '>', "$dir/$name.ext") or die;
	print $fh "subjectAltName=$san\nbasicConstraints=CA:FALSE\n";
	close $fh;
	run_ok(@openssl, 'x509', '-req', '-sha256', '-in', "$dir/$name.csr", '-CA', "$dir/ca.pem",
		'-CAkey', "$dir/ca.key", '-CAcreateserial', '-days', $days, '-extfile', "$dir/$name.ext",
		'-out', "$dir/$name.pem");
}
leaf('good', 'DNS:localhost,IP:127.0.0.1', 2);
leaf('wrong', 'DNS:wrong.example', 2);
leaf('expired', 'DNS:localhost,IP:127.0.0.1', -1);    # not after < not before

# ---------------------------------------------------------------------------
# One TLS stand-in per certificate.
# ---------------------------------------------------------------------------
my %standins;

sub start_standin
{
	my ($name) = @_;
	my $portfile = "$dir/$name.port";
	my $h = IPC::Run::start(
		[ '/usr/bin/python3', $script, '--port', '0', '--port-file', $portfile,
			'--tls-cert', "$dir/$name.pem", '--tls-key', "$dir/$name.key", '--quiet' ],
		'>', "$dir/$name.log", '2>&1');
	my $port;
	for (1 .. 200)
	{
		if (-s $portfile)
		{
			open(my $fh, '<', $portfile) or die;
			($port) = (<$fh> // '') =~ /(\d+)/;
			close $fh;
			last if $port;
		}
		sleep 0.05;
	}
	die "stand-in $name did not start" unless $port;
	# ready when the admin API answers (any certificate: this is our tooling)
	for (1 .. 200)
	{
		my ($out, $err) = ('', '');
		last if IPC::Run::run([ 'curl', '-sSfk', '--max-time', '2', "https://127.0.0.1:$port/_admin/health" ],
			'>', \$out, '2>', \$err);
		sleep 0.05;
	}
	$standins{$name} = { h => $h, port => $port };
	return $port;
}

sub standin_requests
{
	my ($name) = @_;
	my $stats = run_ok('curl', '-sSfk', '--max-time', '10',
		"https://127.0.0.1:$standins{$name}{port}/_admin/stats");
	return $stats =~ /"requests":\s*(\d+)/ ? $1 : die "no requests in $stats";
}

END
{
	for my $s (values %standins)
	{
		eval { $s->{h}->kill_kill(grace => 5) };
	}
}

start_standin($_) for qw(good wrong expired);

create_db($db);
for my $name (qw(good wrong expired))
{
	my $port = $standins{$name}{port};
	add_server($db, "s_$name", "base_url 'https://localhost:$port', ca_file '$dir/ca.pem'",
		"t_$name (id uuid, number text)");
}

# A private CA: works.
is(psql_do($db, "SELECT number FROM t_good WHERE id = '$id1'"), '+15550000001',
	'a certificate from a private CA, with that CA as ca_file: lookups work');
is(psql_do($db, 'SELECT count(*) FROM t_good'), '50', '... and list scans');
# also by IP address, which the certificate names too
my $good_port = $standins{good}{port};
psql_do($db, "ALTER SERVER s_good OPTIONS (SET base_url 'https://127.0.0.1:$good_port')");
is(psql_do($db, "SELECT number FROM t_good WHERE id = '$id1'"), '+15550000001',
	'... and by IP address, which the certificate names');
psql_do($db, "ALTER SERVER s_good OPTIONS (SET base_url 'https://localhost:$good_port')");

sub refused
{
	my ($name, $what, $detail_re) = @_;
	my $before = standin_requests($name);
	my ($ok, $out, $err) = psql_try($db, "SELECT number FROM t_$name WHERE id = '$id1'");
	ok(!$ok, "$what: refused");
	like($err, qr/ERROR:\s+HV00N: could not connect to the TopCalls API for GET \S+\n/,
		"$what: unable to establish connection (HV00N), no retry");
	like($err, $detail_re, "$what: the detail says why");
	is(standin_requests($name) - $before, 0, "$what: no HTTP request (and no key) reached the server");
}

# Without ca_file, the private CA is unknown.
psql_do($db, 'ALTER SERVER s_good OPTIONS (DROP ca_file)');
refused('good', 'the private CA without ca_file', qr/DETAIL:.*certificate/i);
psql_do($db, "ALTER SERVER s_good OPTIONS (ADD ca_file '$dir/ca.pem')");

refused('wrong', 'a certificate for another host name', qr/DETAIL:.*(host ?name|subject)/i);
refused('expired', 'an expired certificate', qr/DETAIL:.*expired/i);

# And the good one still works, in the same database.
is(psql_do($db, "SELECT number FROM t_good WHERE id = '$id1'"), '+15550000001',
	'the good server works after the failures');

psql_do('postgres', "DROP DATABASE $db");
done_testing();
