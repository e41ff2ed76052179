#
# t/TcTap.pm: helpers shared by the TAP tests in t/.
#
# The tests run against the cluster and stand-in that test/run-tests.sh
# started, and find them through its environment (TC_PGHOST, TC_PGPORT,
# TC_API_URL, ...).  What is here:
#
#   require_env(NAME...)         the values of those variables, in order;
#                                skips the whole test when one is not set
#   psql_cmd()                   psql's command line for that cluster
#   set_psql_verbosity(LEVEL)    VERBOSITY for psql_try and psql_do
#                                (default: psql's own)
#   psql_try(DB, SQL)            runs SQL; returns (ok, stdout, stderr)
#   psql_do(DB, SQL)             runs SQL; returns stdout, dies on failure
#   standin(ACTION, [BODY])      the stand-in's /_admin API: POST of the
#                                JSON BODY, or GET without one
#   create_db(DB, [OPTIONS])     a fresh database with the extension in it
#   add_server(DB, NAME, OPTIONS, TABLE...)
#                                a server, a user mapping for it and its
#                                foreign tables
#
# run-tests.sh gives prove "-I t"; the tests also add their own directory to
# @INC, so that they can be run by hand too.
#
package TcTap;

use strict;
use warnings;

use Exporter 'import';
use HTTP::Tiny;
use IPC::Run ();
use Test::More ();

our @EXPORT_OK = qw(require_env psql_cmd set_psql_verbosity psql_try psql_do
  standin create_db add_server);

# The values of the environment variables named, in order.  If one is not
# set, skips the whole test: the first is the one whose absence says that the
# test was not started by run-tests.sh.
sub require_env
{
	my @names = @_;
	my @values;
	for my $i (0 .. $#names)
	{
		my $value = $ENV{ $names[$i] }
		  or Test::More::plan(skip_all => "$names[$i] not set"
			  . ($i == 0 ? ' (run me from test/run-tests.sh)' : ''));
		push @values, $value;
	}
	return @values;
}

sub psql_cmd
{
	return ('psql', '-X', '-h', $ENV{TC_PGHOST}, '-p', $ENV{TC_PGPORT}, '-U', 'postgres');
}

my $verbosity;

# VERBOSITY for psql_try and psql_do from now on ("verbose" puts the SQLSTATE
# into error messages); undef for psql's default.
sub set_psql_verbosity
{
	($verbosity) = @_;
	return;
}

# One-shot psql; returns (success, stdout (trimmed), stderr).
sub psql_try
{
	my ($dbname, $sql) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[ psql_cmd(), '-At', '-v', 'ON_ERROR_STOP=1',
			(defined $verbosity ? ('-v', "VERBOSITY=$verbosity") : ()),
			'-d', $dbname, '-c', $sql ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	chomp $out;
	return ($ok, $out, $err);
}

# One-shot psql; returns stdout (trimmed), dies on failure.
sub psql_do
{
	my ($dbname, $sql) = @_;
	my ($ok, $out, $err) = psql_try($dbname, $sql);
	die "psql failed: $sql\n$err" unless $ok;
	return $out;
}

# The stand-in's admin API (at TC_API_URL): POST of $body as JSON, or GET
# without a body.  Returns the answer's body, dies if it is not a success.
my $http;

sub standin
{
	my ($action, $body) = @_;
	my $api_url = $ENV{TC_API_URL};
	$http //= HTTP::Tiny->new(timeout => 30);
	my $res = defined $body
	  ? $http->post("$api_url/_admin/$action",
		{ headers => { 'Content-Type' => 'application/json' }, content => $body })
	  : $http->get("$api_url/_admin/$action");
	die "stand-in $action: $res->{status} $res->{content}" unless $res->{success};
	return $res->{content};
}

# A database of the test's own, made afresh (CREATE DATABASE's $options
# after the name), with the extension.
sub create_db
{
	my ($db, $options) = @_;
	psql_do('postgres', "DROP DATABASE IF EXISTS $db WITH (FORCE)");
	psql_do('postgres', "CREATE DATABASE $db" . (defined $options ? " $options" : ''));
	psql_do($db, 'CREATE EXTENSION topcalls_fdw');
	return;
}

# In $db: server $name with the OPTIONS list $options (SQL, as in
# "base_url '...', max_retries '0'"), a user mapping for the current user
# with the test key, and a foreign table on that server for each
# "name (columns)" in @tables.
sub add_server
{
	my ($db, $name, $options, @tables) = @_;
	my $sql = "CREATE SERVER $name FOREIGN DATA WRAPPER topcalls_fdw OPTIONS ($options);\n"
	  . "CREATE USER MAPPING FOR CURRENT_USER SERVER $name OPTIONS (api_key 'tc_test_key');\n";
	$sql .= "CREATE FOREIGN TABLE $_ SERVER $name;\n" for @tables;
	psql_do($db, $sql);
	return;
}

1;
