/*
 * t/wipe_check.c: an LD_PRELOAD shim for t/011_wiped_headers.pl.
 *
 * Wraps libcurl's curl_slist_free_all: before the real one frees a list, it
 * appends a line to TC_WIPE_LOG about it, if it is one the extension built
 * (its lines are all empty, or one of them starts "Authorization"):
 * "wiped" when every line is empty (zeroed before the free), "unwiped"
 * when a line still holds the Authorization header.  Other lists (libcurl's
 * own) are not logged.
 *
 * Built by the test itself: cc -shared -fPIC -o wipe_check.so wipe_check.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct curl_slist
{
	char	   *data;
	struct curl_slist *next;
};

typedef void (*free_all_fn) (struct curl_slist *);

void
curl_slist_free_all(struct curl_slist *list)
{
	static free_all_fn real = NULL;
	const char *path = getenv("TC_WIPE_LOG");
	struct curl_slist *item;
	int			empty = 1;
	int			auth = 0;

	if (real == NULL)
		real = (free_all_fn) dlsym(RTLD_NEXT, "curl_slist_free_all");
	for (item = list; item != NULL; item = item->next)
	{
		if (item->data == NULL || item->data[0] == '\0')
			continue;
		empty = 0;
		if (strncmp(item->data, "Authorization", 13) == 0)
			auth = 1;
	}
	if (path != NULL && list != NULL && (empty || auth))
	{
		FILE	   *f = fopen(path, "a");

		if (f != NULL)
		{
			fprintf(f, "%s\n", auth ? "unwiped" : "wiped");
			fclose(f);
		}
	}
	real(list);
}
