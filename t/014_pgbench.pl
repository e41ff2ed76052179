#!/usr/bin/perl
#
# t/014_pgbench.pl: 16 pgbench clients share one API account through the
# rate limiter (issue 10).
#
# The stand-in allows 40 requests/s (a token bucket of 40, account-wide, as
# a real API's limit is) and answers 429 beyond it.  pgbench runs 16 clients
# for 30 s, each transaction a single lookup, an id = ANY of 20 ids (20
# lookups) and a list read with LIMIT 5 (one page): 22 requests, all of
# one server and API key, from 16 backends at once.  Three runs, each on a
# server of its own (each has its own limiter and pause state, so no run
# inherits another's), in a cluster of the test's own with
# shared_preload_libraries = 'topcalls_fdw':
#
#   1. rate_limit '38' (just under the API's 40), the API's 429s with
#      "Retry-After: 1";
#   2. rate_limit '38', the API's 429s without Retry-After (the FDW's own
#      shared backoff);
#   3. the baseline: no rate_limit, 429s with Retry-After.
#
# Runs 1 and 2 must have: pgbench's exit status 0, no client aborted and no
# failed transaction (an FDW ERROR aborts a pgbench client on every version:
# --max-tries only retries serialization and deadlock errors, and the
# "number of failed transactions" line only exists from 15 on, so both are
# looked at), 429s under 1 % of the requests the stand-in received, and the
# stand-in's answered requests per second at least 85 % of rate_limit
# (wall clock of the pgbench run; only a ratio is asserted, no latency).
# The baseline's 429s and failures are printed, not asserted: they are what
# the limiter is for.
#
# In every run, the memory of the pgbench clients' backends (found by
# application_name) is sampled at 10 s and at 28 s (VmRSS and RssAnon of
# /proc/PID/status), and must stay flat: VmRSS grows by less than 2 MB in
# any backend (RssAnon, the private part, is printed too).  At the end the
# server log must show no backend crash.
#
# About 110 s (CI runs this on three versions): three 30 s runs, plus setup.
# The two runs with rate_limit end some 7 s after pgbench's 30 s: the turns
# the limiter has already handed out (up to max_concurrency per backend) are
# served at rate_limit before the clients' last transactions finish.  The
# figures are printed (diag) for every run, the baseline's included.
#
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use TcTap qw(require_env psql_do standin create_db add_server);
use Test::More;
use Time::HiRes qw(time sleep);

my ($api_url, $pg_config) = require_env(qw(TC_API_URL TC_PG_CONFIG));

$SIG{PIPE} = 'IGNORE';

# The stand-in is shared with the suites that run after this one: never
# leave it limited to 40 requests/s, even if the test dies half-way.
my $main_pid = $$;
END { eval { standin('reset', '{}') } if defined $main_pid && $$ == $main_pid; }

# The API's limit, and the FDW's, just under it (as README.md advises).
my $api_rate = 40;
my $fdw_rate = 38;
my $clients = 16;
my $duration = 30;
my $ids = 1000;			# the stand-in's phone numbers: every id looked up exists
# Memory: when to sample (s into the run: each backend has run a few
# transactions by the first, and is still connected at the second), and the
# bound on VmRSS growth between them.  Once a backend's caches are warm its
# memory moves by tens of kB (40-130 kB here, as in t/002_leaks.pl); VmRSS
# also counts the shared memory it touches, but these backends touch little
# beyond the catalogs they have read by then.  At 38 requests/s over 16
# backends each sends only some 45 requests between the samples, so this
# catches big leaks (50 kB a request, a connection or a multi handle per
# scan, a queue that grows), not small ones: t/002_leaks.pl measures those,
# to the kB, in one session.
my @sample_at = (10, 28);
my $rss_growth_kb = 2048;

chomp(my $bindir = `$pg_config --bindir`);
my $pgbench = "$bindir/pgbench";
BAIL_OUT("no pgbench in $bindir (Debian: postgresql-contrib)") unless -x $pgbench;

my $db = 'tc_tap_pgbench';
my $node = PostgreSQL::Test::Cluster->new('pgbench');
$node->init;
# 16 clients, the test's own psql sessions and some slack: the default of a
# test cluster is 10.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'topcalls_fdw'\n"
	  . "max_connections = 40\n");
$node->start;

standin('reset', '{}');
create_db($db, undef, $node);

# The ids as constants to the planner (immutable functions of pgbench's
# variables, folded at plan time): id = pn_id(n) and id = ANY(pn_ids(lo, hi))
# are lookups.
psql_do($db, q{
	CREATE FUNCTION pn_id(i int) RETURNS uuid IMMUTABLE
	LANGUAGE sql AS $$ SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid $$;
	CREATE FUNCTION pn_ids(lo int, hi int) RETURNS uuid[] IMMUTABLE
	LANGUAGE sql AS $$ SELECT array_agg(pn_id(i) ORDER BY i) FROM generate_series(lo, hi) AS i $$;
}, $node);

# One server (and schema, for pgbench's search_path) per run.  rows
# '1000000': a large account, so 20 ids are looked up, never read from the
# list, whatever the sizes the FDW learns on the way.
my @runs = (
	{ name => 'limited_ra', mode => 'retry_after', rate => $fdw_rate,
		label => "rate_limit $fdw_rate, 429s with Retry-After: 1" },
	{ name => 'limited_none', mode => 'none', rate => $fdw_rate,
		label => "rate_limit $fdw_rate, 429s without Retry-After" },
	{ name => 'baseline', mode => 'retry_after', rate => 0,
		label => 'baseline: no rate_limit, 429s with Retry-After: 1' },
);
for my $run (@runs)
{
	my $s = $run->{name};
	psql_do($db, "CREATE SCHEMA $s", $node);
	add_server($db, "tc_$s", "base_url '$api_url'" . ($run->{rate} ? ", rate_limit '$run->{rate}'" : ''),
		"$s.phone_numbers (id uuid, number text)", $node);
	psql_do($db, "ALTER FOREIGN TABLE $s.phone_numbers OPTIONS (ADD rows '1000000')", $node);
}

# pgbench's script: one transaction is 22 requests.
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $script = "$tmp/lookups.sql";
open my $fh, '>', $script or die "$script: $!";
print $fh <<'EOS';
\set id random(1, 1000)
\set lo random(1, 981)
SELECT number FROM phone_numbers WHERE id = pn_id(:id);
SELECT count(*) FROM phone_numbers WHERE id = ANY (pn_ids(:lo, :lo + 19));
SELECT number FROM phone_numbers LIMIT 5;
EOS
close $fh;

# The stand-in's counters, all at once.
sub standin_stats
{
	return JSON::PP::decode_json(standin('stats'));
}

# The stand-in as a run wants it: counters zeroed, its bucket full.
sub standin_prepare
{
	my ($config) = @_;
	standin('reset', '{}');
	standin('config', JSON::PP::encode_json({ count => $ids, %$config }));
	return;
}

# The script's statements once through each server, by psql, with the
# stand-in unlimited: the plans are the ones meant (1 + 20 lookups and one
# page of the list), and the rows are there.
for my $run (@runs)
{
	my $s = $run->{name};
	standin_prepare({});
	is(psql_do($db, "SELECT number FROM $s.phone_numbers WHERE id = pn_id(7)", $node),
		'+15550000007', "$s: a single lookup");
	is(psql_do($db, "SELECT count(*) FROM $s.phone_numbers WHERE id = ANY (pn_ids(981, 1000))", $node),
		'20', "$s: 20 ids");
	is(psql_do($db, "SELECT count(*) FROM (SELECT number FROM $s.phone_numbers LIMIT 5) s", $node),
		'5', "$s: the list read");
	my $st = standin_stats();
	is("$st->{lookups} $st->{lists} $st->{requests}", '21 1 22',
		"$s: one transaction is 21 lookups and one list page");
}

# VmRSS and RssAnon (kB) of a process; undef once it is gone.
sub memory_kb
{
	my ($pid) = @_;
	open my $st, '<', "/proc/$pid/status" or return undef;
	my %kb;
	while (<$st>)
	{
		$kb{$1} = $2 if /^(VmRSS|RssAnon):\s+(\d+)/;
	}
	close $st;
	return \%kb;
}

# The memory of the pgbench clients' backends.
sub sample_backends
{
	my $pids = psql_do('postgres',
		"SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'pgbench'",
		$node);
	my %sample;
	for my $pid (split ' ', $pids)
	{
		my $kb = memory_kb($pid);
		$sample{$pid} = $kb if $kb;
	}
	return \%sample;
}

# One pgbench run.  Returns its figures; the run's output is in the log.
sub run_pgbench
{
	my ($run) = @_;
	my $s = $run->{name};
	standin_prepare({ rate_limit => $api_rate, rate_burst => $api_rate, rate_mode => $run->{mode} });
	psql_do($db, 'SELECT topcalls_fdw_stats_reset()', $node);

	my ($out, $err) = ("$tmp/$s.out", "$tmp/$s.err");
	my @cmd = ($pgbench, '-n', '-c', $clients, '-j', 4, '-T', $duration, '-P', 5,
		'-f', $script, '-h', $node->host, '-p', $node->port, $db);
	my $t0 = time;
	# Output to files, so that nothing needs pumping while the test samples
	# memory.  The bound: the run, the requests still queued for their
	# turns when it ends (seconds), and slack.
	# The run's schema; and pgbench's own application_name, which
	# PostgreSQL::Test::Utils's PGAPPNAME (the test's name, for every psql)
	# would override: it tells the clients' backends from the test's own.
	my $h = IPC::Run::start(\@cmd, '<', \undef, '>', $out, '2>', $err,
		init => sub {
			$ENV{PGOPTIONS} = "-c search_path=$s,public";
			$ENV{PGAPPNAME} = 'pgbench';
		},
		IPC::Run::timeout($duration + 90));
	my @samples;
	for my $at (@sample_at)
	{
		sleep($t0 + $at - time) if $t0 + $at > time;
		push @samples, sample_backends();
	}
	$h->finish;
	my $rc = $h->result(0);
	my $elapsed = time - $t0;

	my $st = standin_stats();
	my $view = psql_do($db, "SELECT requests, retries, rate_limited, round(throttled_ms)"
		  . " FROM topcalls_fdw_stats WHERE server = 'tc_$s'", $node);
	my $stdout = slurp_file($out);
	my $stderr = slurp_file($err);
	note("pgbench $s, exit status $rc:\n$stdout\n$stderr");

	my %aborted;
	$aborted{$1} = 1 while $stderr =~ /client (\d+) (?:script \d+ )?aborted/g;
	my ($done) = $stdout =~ /number of transactions actually processed: (\d+)/;
	# 15+ only; before 15 a failed transaction is an aborted client
	my ($failed) = $stdout =~ /number of failed transactions: (\d+)/;
	my @first_errors = $stderr =~ /(aborted.*)/g;

	# The memory of the backends alive at both samples.
	my ($anon_growth, $rss_growth, $n_backends) = (0, 0, 0);
	for my $pid (keys %{ $samples[0] })
	{
		my ($a, $b) = ($samples[0]{$pid}, $samples[1]{$pid});
		next unless $b;
		$n_backends++;
		$anon_growth = $b->{RssAnon} - $a->{RssAnon} if $b->{RssAnon} - $a->{RssAnon} > $anon_growth;
		$rss_growth = $b->{VmRSS} - $a->{VmRSS} if $b->{VmRSS} - $a->{VmRSS} > $rss_growth;
	}

	my %r = (
		rc => $rc, elapsed => $elapsed, done => $done // 0, failed => $failed,
		aborted => scalar(keys %aborted), first_error => $first_errors[0],
		requests => $st->{requests}, rate_limited => $st->{rate_limited},
		answered => $st->{requests} - $st->{rate_limited}, view => $view,
		backends_sampled => scalar(keys %{ $samples[0] }), backends => $n_backends,
		anon_growth => $anon_growth, rss_growth => $rss_growth,
	);
	$r{throughput} = $r{answered} / $elapsed;
	$r{frac429} = $r{requests} ? $r{rate_limited} / $r{requests} : 0;
	diag(sprintf("%s: %.1f s, %d transactions, %s failed, %d clients aborted;"
		  . " API: %d requests, %d 429s (%.2f %%), %.1f answered/s (%.0f %% of %d/s);"
		  . " view (requests retries 429s throttled_ms): %s;"
		  . " memory growth %d-%d s over %d backends: RssAnon %d kB, VmRSS %d kB",
		$run->{label}, $elapsed, $r{done}, $failed // 'n/a', $r{aborted},
		$r{requests}, $r{rate_limited}, 100 * $r{frac429}, $r{throughput},
		100 * $r{throughput} / ($run->{rate} || $fdw_rate), $run->{rate} || $fdw_rate,
		$view =~ s/\|/ /gr, @sample_at, $n_backends, $anon_growth, $rss_growth));
	diag("  first error: $r{first_error}") if $r{first_error};
	return \%r;
}

for my $run (@runs)
{
	my $s = $run->{name};
	my $r = run_pgbench($run);

	if ($run->{rate})
	{
		is($r->{rc}, 0, "$s: pgbench succeeded");
		is($r->{aborted}, 0, "$s: no client aborted");
		is($r->{failed} // 0, 0, "$s: no failed transaction");
		cmp_ok($r->{done}, '>', 0, "$s: transactions ran");
		cmp_ok($r->{frac429}, '<', 0.01,
			sprintf("$s: 429s under 1 %% of the requests (%d of %d)", $r->{rate_limited}, $r->{requests}));
		cmp_ok($r->{throughput}, '>=', 0.85 * $run->{rate},
			sprintf("$s: API throughput %.1f/s at least 85 %% of rate_limit %d", $r->{throughput}, $run->{rate}));
	}
	# Only the baseline's figures matter (printed above), but every run must
	# have sent requests, or the figures say nothing.
	cmp_ok($r->{requests}, '>', $duration * $api_rate / 2, "$s: the API was kept busy");

	cmp_ok($r->{backends}, '>', 0, "$s: backends were sampled") if $run->{rate};
	cmp_ok($r->{rss_growth}, '<', $rss_growth_kb,
		"$s: backend memory stays flat (VmRSS +$r->{rss_growth} kB from $sample_at[0] s to $sample_at[1] s)");
}

# No backend crashed.
my $log = slurp_file($node->logfile);
my @crashes = $log =~ /^(.*(?:terminated by signal|server process .* exited|PANIC:).*)$/mg;
is(scalar(@crashes), 0, 'the server log shows no crash') or diag(join("\n", @crashes[0 .. ($#crashes < 9 ? $#crashes : 9)]));

$node->stop;
standin('reset', '{}');

done_testing();
