#
# t/TcTap.pm: helpers shared by the TAP tests in t/.
#
# The tests run against the cluster and stand-in that test/run-tests.sh
# started, and find them through its environment (TC_PGHOST, TC_PGPORT,
# TC_API_URL, ...).  What is here:
#
#   require_env(NAME...)         the values of those variables, in order;
#                                skips the whole test when one is not set
#   psql_cmd([NODE])             psql's command line for that cluster, or for
#                                a PostgreSQL::Test::Cluster node of the
#                                test's own
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
#   standin_stat(NAME)           one of the stand-in's counters
#   standin_stats()              all of them, as a hash reference
#   wait_for(CODE)               polls CODE until true (false after 20 s)
#
# Long-lived psql sessions, fed statements on stdin (IPC::Run):
#   session_start(DB, [NODE])    starts one; ->{pid} is its backend's PID
#   session_send(S, SQL)         sends SQL without waiting; returns a marker
#   session_wait(S, MARKER)      (stdout, stderr) of what was sent
#   session_query(S, SQL)        both: SQL's stdout
#   session_end(S)               \q, and waits for psql to exit
#   backend_waiting(DB, PID, [NODE])
#                                the backend waits in the FDW (wait event
#                                "Extension")
#   backend_gone(PID, [NODE])    no such backend any more
#   process_gone(PID)            the process has exited (a zombie waiting
#                                to be reaped counts as exited)
#
# run-tests.sh gives prove "-I t"; the tests also add their own directory to
# @INC, so that they can be run by hand too.
#
package TcTap;

use strict;
use warnings;

use Exporter 'import';
use HTTP::Tiny;
use JSON::PP ();
use IPC::Run ();
use Test::More ();
use Time::HiRes ();

our @EXPORT_OK = qw(require_env psql_cmd set_psql_verbosity psql_try psql_do
  standin create_db add_server standin_stat standin_stats wait_for session_start session_send
  session_wait session_query session_end backend_waiting backend_gone process_gone);

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
	my ($node) = @_;
	return ('psql', '-X', '-h', $node->host, '-p', $node->port) if $node;
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
	my ($dbname, $sql, $node) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[ psql_cmd($node), '-At', '-v', 'ON_ERROR_STOP=1',
			(defined $verbosity ? ('-v', "VERBOSITY=$verbosity") : ()),
			'-d', $dbname, '-c', $sql ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	chomp $out;
	return ($ok, $out, $err);
}

# One-shot psql; returns stdout (trimmed), dies on failure.
sub psql_do
{
	my ($dbname, $sql, $node) = @_;
	my ($ok, $out, $err) = psql_try($dbname, $sql, $node);
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
	my ($db, $options, $node) = @_;
	psql_do('postgres', "DROP DATABASE IF EXISTS $db WITH (FORCE)", $node);
	psql_do('postgres', "CREATE DATABASE $db" . (defined $options ? " $options" : ''), $node);
	psql_do($db, 'CREATE EXTENSION topcalls_fdw', $node);
	return;
}

# In $db: server $name with the OPTIONS list $options (SQL, as in
# "base_url '...', max_retries '0'"), a user mapping for the current user
# with the test key, and a foreign table on that server for each
# "name (columns)" in @tables.
sub add_server
{
	my ($db, $name, $options, @tables) = @_;
	my $node = ref $tables[-1] ? pop @tables : undef;
	my $sql = "CREATE SERVER $name FOREIGN DATA WRAPPER topcalls_fdw OPTIONS ($options);\n"
	  . "CREATE USER MAPPING FOR CURRENT_USER SERVER $name OPTIONS (api_key 'tc_test_key');\n";
	$sql .= "CREATE FOREIGN TABLE $_ SERVER $name;\n" for @tables;
	psql_do($db, $sql, $node);
	return;
}

# One of the stand-in's counters (GET /_admin/stats).
sub standin_stat
{
	my ($name) = @_;
	my $stats = standin('stats');
	return $stats =~ /"\Q$name\E":\s*(\d+)/ ? $1 : die "no $name in $stats";
}

# All of the stand-in's counters (GET /_admin/stats), as a hash reference,
# read at one instant (so that they agree with each other).
sub standin_stats
{
	return JSON::PP::decode_json(standin('stats'));
}

# Poll until $cond->() is true; false after 20 seconds.
sub wait_for
{
	my ($cond) = @_;
	my $deadline = Time::HiRes::time() + 20;
	while (Time::HiRes::time() < $deadline)
	{
		return 1 if $cond->();
		Time::HiRes::sleep(0.05);
	}
	return 0;
}

# A long-lived psql session.  Statements are fed on stdin; each batch ends
# with an \echo of a marker, so we know when its output is complete.
my $marker_no = 0;

sub session_start
{
	my ($db, $node) = @_;
	my $s = { in => '', out => '', err => '' };
	$s->{timer} = IPC::Run::timeout(120);
	$s->{h} = IPC::Run::start(
		[ psql_cmd($node), '-q', '-At', '-d', $db, '-v', 'VERBOSITY=verbose' ],
		'<', \$s->{in}, '>', \$s->{out}, '2>', \$s->{err}, $s->{timer});
	$s->{pid} = session_query($s, 'SELECT pg_backend_pid();');
	return $s;
}

# Send SQL, don't wait; returns the marker to wait for.
sub session_send
{
	my ($s, $sql) = @_;
	my $marker = 'MARK_' . ++$marker_no;
	$s->{out} = '';
	$s->{err} = '';
	$s->{in} .= "$sql\n\\echo $marker\n";
	$s->{h}->pump_nb;
	return $marker;
}

# Wait for the marker; returns (stdout before the marker, stderr).
sub session_wait
{
	my ($s, $marker) = @_;
	$s->{h}->pump until $s->{out} =~ /^\Q$marker\E$/m;
	my ($out) = $s->{out} =~ /^(.*?)^\Q$marker\E$/ms;
	$out //= '';
	$out =~ s/\s+$//;
	return wantarray ? ($out, $s->{err}) : $out;
}

sub session_query
{
	my ($s, $sql) = @_;
	return scalar session_wait($s, session_send($s, $sql));
}

sub session_end
{
	my ($s) = @_;
	$s->{in} .= "\\q\n";
	eval { $s->{h}->finish };
	return;
}

# Is the backend in the FDW's wait (curl poll or retry sleep)?
sub backend_waiting
{
	my ($db, $pid, $node) = @_;
	return psql_do($db, "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid"
		  . " AND state = 'active' AND wait_event_type = 'Extension'", $node) eq '1';
}

sub backend_gone
{
	my ($pid, $node) = @_;
	return psql_do('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid", $node) eq '0';
}

# Has the process exited?  A backend whose postmaster died is reparented,
# and may stay a zombie for a while before its new parent reaps it.
sub process_gone
{
	my ($pid) = @_;
	return 1 unless kill(0, $pid);
	open my $fh, '<', "/proc/$pid/stat" or return 1;
	my $stat = <$fh>;
	close $fh;
	return defined $stat && $stat =~ /^\d+ \(.*\) Z/ ? 1 : 0;
}

1;
