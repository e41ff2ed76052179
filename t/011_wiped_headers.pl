#!/usr/bin/perl
#
# t/011_wiped_headers.pl: the request headers, which carry the API key, are
# wiped before libcurl frees them.
#
# A cluster of the test's own runs with an LD_PRELOAD shim (t/wipe_check.c,
# built by the test) that looks at every header list handed to
# curl_slist_free_all: after lookups, list scans and a failing request, each
# of the extension's lists must arrive zeroed, none with its Authorization
# line intact.  (The key itself also lives, unwiped, in the user mapping's
# catalog row and in each request libcurl sends; those are out of reach.)
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TcTap qw(require_env psql_do psql_try standin create_db add_server);
use Test::More;

my ($api_url) = require_env(qw(TC_API_URL));

my $dir = PostgreSQL::Test::Utils::tempdir;
my $shim = "$dir/wipe_check.so";
system('cc', '-shared', '-fPIC', '-O1', '-o', $shim, "$FindBin::RealBin/wipe_check.c", '-ldl') == 0
  or BAIL_OUT('cannot build the curl_slist_free_all shim');
my $log = "$dir/wipe.log";

my $node = PostgreSQL::Test::Cluster->new('wiped_headers');
$node->init;
{
	local $ENV{LD_PRELOAD} = $shim;
	local $ENV{TC_WIPE_LOG} = $log;
	$node->start;
}

my $db = 'tc_tap_wipe';
create_db($db, undef, $node);
add_server($db, 'topcalls', "base_url '$api_url', max_retries '0'",
	'phone_numbers (id uuid, number text)', $node);

standin('reset', '{}');
is(psql_do($db, "SELECT number FROM phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001'", $node),
	'+15550000001', 'a lookup');
is(psql_do($db, 'SELECT count(*) FROM phone_numbers', $node), '50', 'a list scan');
standin('faults', '[{"status": 500}]');
my ($ok) = psql_try($db, "SELECT number FROM phone_numbers WHERE id = '00000000-0000-4000-8000-000000000002'", $node);
ok(!$ok, 'a failing request');
standin('faults', '[]');

$node->stop;
open my $fh, '<', $log or die "no $log: $!";
my @lines = map { chomp; $_ } <$fh>;
close $fh;
cmp_ok(scalar(grep { $_ eq 'wiped' } @lines), '>=', 3, 'the header lists were freed ...');
is_deeply([ grep { $_ ne 'wiped' } @lines ], [], '... each one wiped first');

done_testing();
