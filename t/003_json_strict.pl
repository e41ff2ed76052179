#!/usr/bin/perl
#
# t/003_json_strict.pl: answers that are not valid UTF-8, or whose \u escapes
# do not form valid Unicode, are rejected, never silently turned into data.
#
# Runs against the cluster and stand-in that test/run-tests.sh started, in
# a UTF8 database of its own.  A simple UTF-8 check catches bytes that
# cannot start or continue a sequence, but lets through overlong forms
# (C0 AF), UTF-8-encoded surrogates (ED A0 80) and code points above
# U+10FFFF (F4 90 80 80), as json-c 0.16 (which earlier releases used) did;
# and a lax decoder turns an unpaired UTF-16 surrogate escape (\ud83d
# alone) into U+FFFD.  json.c therefore checks the whole body with
# PostgreSQL's UTF-8 verifier and pairs the surrogate escapes itself: the
# cases below fail if either check goes.
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use TcTap qw(require_env set_psql_verbosity psql_try psql_do standin create_db add_server);
use Test::More;

my (undef, undef, $api_url) = require_env(qw(TC_PGHOST TC_PGPORT TC_API_URL));
set_psql_verbosity('verbose');

my $db = 'tc_tap_json_strict';
my $id1 = '00000000-0000-4000-8000-000000000001';

# A lookup answer whose JSON text is given, fields after the id.  In the
# rule, \udcXX stands for the raw byte XX (the stand-in's surrogateescape);
# a JSON escape in the answer is written \\uXXXX here.
sub answer_with
{
	my ($fields) = @_;
	my $body = qq({\\"id\\": \\"$id1\\", $fields});
	standin('faults', qq([{"kind": "lookup", "replace_body": "$body"}]));
}

create_db($db, "ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
add_server($db, 'topcalls', "base_url '$api_url', max_retries '0'", 'pn (id uuid, label text)');
standin('reset', '{}');

my $lookup = "SELECT label, encode(convert_to(label, 'UTF8'), 'hex') FROM pn WHERE id = '$id1'";

# The query must fail; the session (a new one) must work after.
sub rejected
{
	my ($what, $fields) = @_;
	answer_with($fields);
	my ($ok, $out, $err) = psql_try($db, $lookup);
	ok(!$ok, "$what: rejected") or diag("got the row: $out");
	note($err) if !$ok;
}

# Valid text goes through.
answer_with(q(\\"label\\": \\"\\\\ud83d\\\\ude00 \\\\u00e9\\"));
is(psql_do($db, $lookup), "\xf0\x9f\x98\x80 \xc3\xa9|f09f988020c3a9",
	'a surrogate pair and a BMP escape decode to the right characters');

rejected('a raw 0xFF byte', q(\\"label\\": \\"a\\udcffb\\"));
rejected('an overlong form (C0 AF) in a column', q(\\"label\\": \\"a\\udcc0\\udcafb\\"));
rejected('a UTF-8-encoded surrogate (ED A0 80) in a column', q(\\"label\\": \\"a\\udced\\udca0\\udc80b\\"));
rejected('a code point above U+10FFFF (F4 90 80 80) in a column', q(\\"label\\": \\"a\\udcf4\\udc90\\udc80\\udc80b\\"));
rejected('\\u0000 in a text column', q(\\"label\\": \\"a\\\\u0000b\\"));

rejected('an overlong form (C0 AF) in a field no column reads', q(\\"label\\": \\"ok\\", \\"other\\": \\"a\\udcc0\\udcafb\\"));
rejected('a UTF-8-encoded surrogate in a field no column reads', q(\\"label\\": \\"ok\\", \\"other\\": \\"\\udced\\udca0\\udc80\\"));
rejected('an unpaired high surrogate escape', q(\\"label\\": \\"a\\\\ud83db\\"));
rejected('a high surrogate escape followed by a non-surrogate escape', q(\\"label\\": \\"a\\\\ud83d\\\\u0041\\"));
rejected('a lone low surrogate escape', q(\\"label\\": \\"a\\\\ude00b\\"));

standin('faults', '[]');
is(psql_do($db, "SELECT label FROM pn WHERE id = '$id1'"), 'Line 1', 'a normal lookup works after all that');

standin('reset', '{}');
psql_do('postgres', "DROP DATABASE $db");

done_testing();
