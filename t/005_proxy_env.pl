#!/usr/bin/perl
#
# t/005_proxy_env.pl: a proxy in the server's environment (http_proxy,
# all_proxy) never sees plain-http requests.
#
# Plain http is allowed only to loopback hosts, because the API key travels
# in clear.  libcurl obeys http_proxy and all_proxy from the environment even
# for localhost, so a server started with a corporate proxy in its
# environment would send the key to that proxy (which would not even reach
# our localhost).  The FDW turns proxies off for http://.  https keeps
# honouring the environment: the tunnel is TLS from end to end, and some
# deployments can only reach the API through a proxy.
#
# This needs a postmaster with those variables in its environment, so the
# test starts a cluster of its own (PostgreSQL::Test::Cluster), with the
# "proxy" on a port where nothing listens: a request that went through it
# would fail to connect.
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TcTap qw(require_env);
use Test::More;

my ($api_url, $tls_url, $ca_file) = require_env(qw(TC_API_URL TC_TLS_URL TC_CA_FILE));

my $id1 = '00000000-0000-4000-8000-000000000001';
my $dead_proxy = 'http://127.0.0.1:1';

my $node = PostgreSQL::Test::Cluster->new('proxy_env');
$node->init;
{
	local $ENV{http_proxy} = $dead_proxy;
	local $ENV{HTTP_PROXY} = $dead_proxy;
	local $ENV{https_proxy} = $dead_proxy;
	local $ENV{HTTPS_PROXY} = $dead_proxy;
	local $ENV{all_proxy} = $dead_proxy;
	local $ENV{ALL_PROXY} = $dead_proxy;
	delete local $ENV{no_proxy};
	delete local $ENV{NO_PROXY};
	$node->start;
}

$node->safe_psql('postgres', qq{
CREATE EXTENSION topcalls_fdw;
CREATE SERVER plain FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url '$api_url', max_retries '0');
CREATE SERVER tls FOREIGN DATA WRAPPER topcalls_fdw
  OPTIONS (base_url '$tls_url', ca_file '$ca_file', max_retries '0', connect_timeout_ms '5000');
CREATE USER MAPPING FOR CURRENT_USER SERVER plain OPTIONS (api_key 'tc_test_key');
CREATE USER MAPPING FOR CURRENT_USER SERVER tls OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE pn_plain (id uuid, number text) SERVER plain;
CREATE FOREIGN TABLE pn_tls (id uuid, number text) SERVER tls;
});

# plain http to the loopback stand-in: direct, despite http_proxy/all_proxy
my ($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT number FROM pn_plain WHERE id = '$id1'");
is($stdout, '+15550000001', 'plain http to localhost ignores http_proxy and all_proxy')
  or diag($stderr);
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT count(*) FROM pn_plain');
is($stdout, '50', '... list scans too') or diag($stderr);

# https goes through the environment's proxy (here a dead one); this also
# shows that the backends have the proxy variables in their environment
($ret, $stdout, $stderr) =
  $node->psql('postgres', "SELECT number FROM pn_tls WHERE id = '$id1'", extra_params => [ '-v', 'VERBOSITY=verbose' ]);
isnt($ret, 0, 'https honours https_proxy (the dead proxy makes it fail)');
like($stderr, qr/HV00N: could not connect to the TopCalls API/, '... as a connection failure');
like($stderr, qr/DETAIL:.*port 1\b/, '... to the proxy\'s port');

$node->stop;
done_testing();
