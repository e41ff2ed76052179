/*
 * t/slow_dns.c: an LD_PRELOAD shim for t/007_slow_dns.pl.
 *
 * getaddrinfo for the one host named in TC_SLOW_DNS_HOST takes
 * TC_SLOW_DNS_SECONDS (whole seconds, whatever signals arrive meanwhile),
 * then answers as for 127.0.0.1; every other name resolves as usual.  Each
 * slow lookup appends one line to TC_SLOW_DNS_LOG: "blocked" when the
 * calling thread had SIGINT, SIGTERM, SIGALRM and SIGUSR1 blocked (so no
 * PostgreSQL signal handler can run on it), "unblocked" otherwise.
 *
 * Built by the test itself: cc -shared -fPIC -o slow_dns.so slow_dns.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*getaddrinfo_fn) (const char *, const char *,
							   const struct addrinfo *, struct addrinfo **);

static void
log_mask(void)
{
	const char *path = getenv("TC_SLOW_DNS_LOG");
	sigset_t	mask;
	FILE	   *f;
	int			blocked;

	if (path == NULL)
		return;
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	blocked = sigismember(&mask, SIGINT) && sigismember(&mask, SIGTERM) &&
		sigismember(&mask, SIGALRM) && sigismember(&mask, SIGUSR1);
	f = fopen(path, "a");
	if (f == NULL)
		return;
	fprintf(f, "%s\n", blocked ? "blocked" : "unblocked");
	fclose(f);
}

/* Sleep the whole time: nanosleep returns early when a signal arrives. */
static void
sleep_fully(int seconds)
{
	struct timespec end;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += seconds;
	for (;;)
	{
		struct timespec left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec ||
			(now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			return;
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0)
		{
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		nanosleep(&left, NULL);
	}
}

int
getaddrinfo(const char *node, const char *service,
			const struct addrinfo *hints, struct addrinfo **res)
{
	static getaddrinfo_fn real = NULL;
	const char *slow = getenv("TC_SLOW_DNS_HOST");

	if (real == NULL)
		real = (getaddrinfo_fn) dlsym(RTLD_NEXT, "getaddrinfo");
	if (node != NULL && slow != NULL && strcmp(node, slow) == 0)
	{
		const char *secs = getenv("TC_SLOW_DNS_SECONDS");

		log_mask();
		sleep_fully(secs ? atoi(secs) : 6);
		return real("127.0.0.1", service, hints, res);
	}
	return real(node, service, hints, res);
}
