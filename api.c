/*-------------------------------------------------------------------------
 *
 * api.c
 *		  The TopCalls API as topcalls_fdw sees it: the URLs of its
 *		  endpoints, strict parsing of its answers, and the mapping of its
 *		  error answers (problem+json or not) to PostgreSQL errors.
 *
 * It knows nothing of HTTP transport (http.c) nor of tuples (convert.c).
 * The API key never passes through here: URLs and request names are built
 * from the base URL, the path and the id only.
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "mb/pg_wchar.h"

#include "topcalls_fdw.h"

/* Longest excerpt of an answer quoted in an error. */
#define TC_EXCERPT_LEN		120

/*
 * tc_api_normalize_id
 *		Normalize an id to lower-case 8-4-4-4-12 hex in out; false if it is
 *		not a UUID.
 *
 * Ids go into URL paths, so
 * anything else ("../x", "a?b") is refused here before any request is made.
 */
bool
tc_api_normalize_id(const char *in, char *out)
{
	int			i;

	if (strlen(in) != TC_ID_BUFSIZE - 1)
		return false;
	for (i = 0; i < TC_ID_BUFSIZE - 1; i++)
	{
		char		c = in[i];

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (c != '-')
				return false;
		}
		else if (!isxdigit((unsigned char) c))
			return false;
		out[i] = pg_ascii_tolower(c);
	}
	out[i] = '\0';
	return true;
}

/* Percent-encode everything but RFC 3986's unreserved characters. */
static void
tc_append_urlencoded(StringInfo buf, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		/* not isalnum(): it follows the locale, and bytes >= 0x80 must be encoded */
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~')
			appendStringInfoChar(buf, (char) c);
		else
		{
			appendStringInfoChar(buf, '%');
			appendStringInfoChar(buf, hex[c >> 4]);
			appendStringInfoChar(buf, hex[c & 15]);
		}
	}
}

/*
 * The path part of base_url ("/prefix" of "https://host/prefix", "" when
 * there is none): requests go below it, and messages name the path as it
 * was really requested.
 */
static const char *
tc_base_path(const TcOptions *opts)
{
	const char *rest = strstr(opts->base_url, "://");
	const char *slash;

	rest = rest ? rest + 3 : opts->base_url;
	slash = strchr(rest, '/');
	return slash ? slash : "";
}

/*
 * Fill url and what of a request for "path", which the caller passes in a
 * StringInfo and which is freed here: the only place URLs are made.
 */
static void
tc_api_set_target(const TcOptions *opts, StringInfo path, TcHttpRequest *req)
{
	memset(req, 0, sizeof(*req));
	req->url = psprintf("%s%s", opts->base_url, path->data);
	/* a cursor comes from outside: clip what messages quote of it */
	req->what = tc_shorten(psprintf("GET %s%s", tc_base_path(opts), path->data),
						   TC_WHAT_LEN);
	pfree(path->data);
}

/*
 * tc_api_lookup_request
 *		Fill req for GET <get path>/<id>.
 *
 * The id must be a UUID: callers check with tc_api_normalize_id first, and
 * this checks again, as the last line of defence before the id goes into a
 * URL path.
 */
void
tc_api_lookup_request(const TcOptions *opts, const char *id, TcHttpRequest *req)
{
	const TcResource *r = tc_resource_get(opts->resource);
	char		normalized[TC_ID_BUFSIZE];
	StringInfoData path;

	if (!tc_api_normalize_id(id, normalized))
		elog(ERROR, "id \"%s\" was not validated", id);
	if (r->get_path == NULL)
		elog(ERROR, "resource \"%s\" has no get endpoint", r->name);
	initStringInfo(&path);
	appendStringInfo(&path, "%s/%s", r->get_path, normalized);
	tc_api_set_target(opts, &path, req);
	req->cache_kind = TC_CACHE_LOOKUP;
}

/*
 * tc_api_list_request
 *		Fill req for one page of the resource's list: GET <path>?limit=N, the
 *		filters (names and values, alternately, in "filters"; may be NIL),
 *		and &cursor=<the cursor> when there is one, each value
 *		percent-encoded.  The filters are also kept, as text, for the
 *		message of an answer that refuses them.
 */
void
tc_api_list_request(const TcOptions *opts, int limit, List *filters,
					const char *cursor, TcHttpRequest *req)
{
	const TcResource *r = tc_resource_get(opts->resource);
	StringInfoData path;
	StringInfoData shown;
	int			i;

	initStringInfo(&path);
	initStringInfo(&shown);
	appendStringInfo(&path, "%s?limit=%d", r->list_path, limit);
	for (i = 0; i + 1 < list_length(filters); i += 2)
	{
		const char *name = (const char *) list_nth(filters, i);
		const char *value = (const char *) list_nth(filters, i + 1);

		appendStringInfo(&path, "&%s=", name);
		tc_append_urlencoded(&path, value);
		appendStringInfo(&shown, "%s%s=%s", shown.len > 0 ? ", " : "", name, value);
	}
	if (cursor)
	{
		appendStringInfoString(&path, "&cursor=");
		tc_append_urlencoded(&path, cursor);
	}
	tc_api_set_target(opts, &path, req);
	req->filters = shown.len > 0 ? shown.data : NULL;
}

/*
 * tc_api_lookup_summary
 *		What EXPLAIN shows for a scan that looks ids up.
 */
char *
tc_api_lookup_summary(const TcOptions *opts)
{
	return psprintf("GET %s%s/{id}", tc_base_path(opts),
					tc_resource_get(opts->resource)->get_path);
}

/*
 * tc_api_list_summary
 *		What EXPLAIN shows for a scan that reads the list: the path, the page
 *		size, and "params" (say "&status={call_status}"), which may be "".
 */
char *
tc_api_list_summary(const TcOptions *opts, int limit, const char *params)
{
	return psprintf("GET %s%s?limit=%d%s", tc_base_path(opts),
					tc_resource_get(opts->resource)->list_path, limit, params);
}

/*
 * Text from an answer, made safe to quote in a message: at most maxlen
 * bytes, control characters and (outside UTF-8 databases) non-ASCII bytes
 * replaced by '?', so a hostile or binary body cannot corrupt the message.
 */
static char *
tc_excerpt(const char *s, size_t len, size_t maxlen)
{
	bool		keep_utf8 = GetDatabaseEncoding() == PG_UTF8 &&
		pg_verifymbstr(s, len, true);
	StringInfoData buf;
	size_t		i;
	bool		truncated = len > maxlen;

	initStringInfo(&buf);
	if (truncated)
		len = keep_utf8 ? (size_t) pg_mbcliplen(s, (int) len, (int) maxlen) : maxlen;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !keep_utf8))
			appendStringInfoChar(&buf, c == '\n' || c == '\t' ? ' ' : '?');
		else
			appendStringInfoChar(&buf, (char) c);
	}
	if (truncated)
		appendStringInfoString(&buf, "...");
	return buf.data;
}

/*
 * tc_api_parse
 *		Parse a successful answer's body strictly (json.c), or raise the
 *		ERROR that says what is wrong with it.
 *
 * The document lives in the current memory context.  It refers to
 * req->body, or with a buffer to a copy there (see tc_json_parse).
 */
TcJson *
tc_api_parse(const TcHttpRequest *req, TcJsonBuffer *buffer)
{
	const char *error;
	TcJson	   *doc = tc_json_parse(req->body, req->body_len, buffer, &error);

	if (doc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid JSON in the answer to %s", req->what),
				 errdetail("%s", _(error))));
	return doc;
}

/*
 * What a problem+json answer says: its title and detail when they are
 * strings (excerpted, see tc_excerpt), and its numeric status (0 when there
 * is none).  Returns false, leaving the rest empty, when the body is not a
 * JSON object.
 */
static bool
tc_problem_read(const TcHttpRequest *req, char **title, char **detail,
				int64 *status)
{
	const char *error;
	TcJson	   *doc;
	int			val;

	*title = *detail = NULL;
	*status = 0;
	if (req->body == NULL || req->body_len == 0)
		return false;
	doc = tc_json_parse(req->body, req->body_len, NULL, &error);
	if (doc == NULL)
		return false;
	if (tc_json_kind(doc, TC_JSON_ROOT) != TC_JSON_KIND_OBJECT)
	{
		pfree(doc->nodes);
		pfree(doc);
		return false;
	}
	val = tc_json_field(doc, TC_JSON_ROOT, "title", 5);
	if (val >= 0 && tc_json_kind(doc, val) == TC_JSON_KIND_STRING &&
		doc->nodes[val].len > 0)
	{
		size_t		len;
		char	   *text = tc_json_text(doc, val, &len);

		*title = tc_excerpt(text, len, TC_EXCERPT_LEN);
	}
	val = tc_json_field(doc, TC_JSON_ROOT, "detail", 6);
	if (val >= 0 && tc_json_kind(doc, val) == TC_JSON_KIND_STRING &&
		doc->nodes[val].len > 0)
	{
		size_t		len;
		char	   *text = tc_json_text(doc, val, &len);

		*detail = tc_excerpt(text, len, 2 * TC_EXCERPT_LEN);
	}
	val = tc_json_field(doc, TC_JSON_ROOT, "status", 6);
	if (val >= 0 && tc_json_kind(doc, val) == TC_JSON_KIND_NUMBER)
	{
		size_t		len;
		char	   *text = tc_json_text(doc, val, &len);
		char	   *endp;
		long long	n;

		/* an integer status only, as in RFC 9457 */
		errno = 0;
		n = strtoll(text, &endp, 10);
		if (errno == 0 && *endp == '\0')
			*status = n;
	}
	pfree(doc->nodes);
	pfree(doc);
	return true;
}

/*
 * Is this 404 the API's own "no such object"?  Only then is a lookup's 404
 * no row: the answer must be JSON (application/problem+json, or
 * application/json) in the problem+json form the API sends for its errors:
 * an object with "status": 404 and a "title" string.  A proxy's HTML page, an
 * empty body, or JSON of another shape (a web server's 404 for a path that
 * is not the API's, say after a wrong base_url) is an error instead, so that
 * a misconfiguration cannot silently empty every lookup and join.
 */
static bool
tc_is_api_not_found(const TcHttpRequest *req)
{
	char	   *title;
	char	   *detail;
	int64		status;

	if (req->status != 404 || req->content_type == NULL ||
		(pg_strncasecmp(req->content_type, "application/problem+json", 24) != 0 &&
		 pg_strncasecmp(req->content_type, "application/json", 16) != 0))
		return false;
	return tc_problem_read(req, &title, &detail, &status) &&
		status == 404 && title != NULL;
}

/*
 * Text from the API or libcurl with the API key blanked out, should an API
 * or a proxy ever echo it: what we quote ends up in logs.
 */
static char *
tc_redact(const char *text, const TcOptions *opts)
{
	StringInfoData buf;
	const char *key = opts->api_key;
	size_t		keylen = key ? strlen(key) : 0;
	const char *p = text;
	const char *hit;

	if (text == NULL || keylen == 0 || strstr(text, key) == NULL)
		return (char *) text;
	initStringInfo(&buf);
	while ((hit = strstr(p, key)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, "[api_key]");
		p = hit + keylen;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

/*
 * errdetail for an HTTP error answer: what its problem+json says, or how the
 * body began when it is not problem+json.  For use inside ereport().
 */
static int
tc_errdetail_answer(const TcHttpRequest *req, const TcOptions *opts)
{
	char	   *title;
	char	   *detail;
	int64		status;

	(void) tc_problem_read(req, &title, &detail, &status);
	title = tc_redact(title, opts);
	detail = tc_redact(detail, opts);
	if (title && detail)
		return errdetail("The API reported \"%s\": \"%s\".", title, detail);
	if (title || detail)
		return errdetail("The API reported \"%s\".", title ? title : detail);
	if (req->body_len > 0)
		return errdetail("The answer was not problem+json; it began: \"%s\".",
						 tc_redact(tc_excerpt(req->body, req->body_len, TC_EXCERPT_LEN),
								   opts));
	return errdetail("The answer had an empty body.");
}

/*
 * errdetail for a transfer that gave no usable answer: the low-speed
 * guard's verdict, or libcurl's reason.  For use inside ereport().
 */
static int
tc_errdetail_transfer(const TcHttpRequest *req, const TcOptions *opts)
{
	if (req->too_slow)
		return errdetail_plural("The answer arrived too slowly: fewer than %ld bytes came in the last %ld second.",
								"The answer arrived too slowly: fewer than %ld bytes came in the last %ld seconds.",
								req->slow_window_s,
								req->slow_min_bytes, req->slow_window_s);
	if (req->error != NULL)
		return errdetail("The transfer failed: %s.", tc_redact(req->error, opts));
	return errdetail("The transfer failed, and libcurl gave no reason.");
}

/*
 * The SQLSTATE of an HTTP error answer: applications can tell an
 * authentication or authorization problem from an outage.
 */
static int
tc_http_errcode(long status)
{
	if (status == 401)
		return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
	if (status == 403)
		return ERRCODE_INSUFFICIENT_PRIVILEGE;
	return ERRCODE_FDW_ERROR;
}

/*
 * tc_api_check_answer
 *		Judge a finished request.
 *
 * Returns true for a 2xx answer with a body to parse, and false for the
 * API's own 404 to a lookup (no such row: see tc_is_api_not_found).  Raises
 * the ERROR the user sees for everything else.
 */
bool
tc_api_check_answer(const TcHttpRequest *req, bool lookup, const TcOptions *opts)
{
	int			n = req->attempts;

	if (req->transport_failed)
	{
		if (req->too_large)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("the answer to %s is larger than max_response_bytes (%lld bytes)",
							req->what, (long long) opts->max_response_bytes),
					 errhint("Raise the server option max_response_bytes if the answer is expected to be this large.")));
		if (req->connect_failed)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 n > 1 ?
					 errmsg_plural("could not connect to the TopCalls API for %s after %d attempt",
								   "could not connect to the TopCalls API for %s after %d attempts",
								   n, req->what, n) :
					 errmsg("could not connect to the TopCalls API for %s", req->what),
					 tc_errdetail_transfer(req, opts)));
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 n > 1 ?
				 errmsg_plural("request %s to the TopCalls API failed after %d attempt",
							   "request %s to the TopCalls API failed after %d attempts",
							   n, req->what, n) :
				 errmsg("request %s to the TopCalls API failed", req->what),
				 tc_errdetail_transfer(req, opts)));
	}

	if (req->status >= 200 && req->status < 300)
		return true;
	if (lookup && tc_is_api_not_found(req))
		return false;

	if (req->status >= 300 && req->status < 400)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("TopCalls API answered %s with a redirect (HTTP %ld)",
						req->what, req->status),
				 errdetail("Redirects are not followed, so that the API key is never sent to another host."),
				 errhint("Check the server option base_url.")));

	ereport(ERROR,
			(errcode(tc_http_errcode(req->status)),
			 n > 1 ?
			 errmsg_plural("TopCalls API request %s failed with HTTP %ld after %d attempt",
						   "TopCalls API request %s failed with HTTP %ld after %d attempts",
						   n, req->what, req->status, n) :
			 errmsg("TopCalls API request %s failed with HTTP %ld",
					req->what, req->status),
			 tc_errdetail_answer(req, opts),
			 req->status == 401 ?
			 errhint("Check the api_key option of the user mapping for server \"%s\".",
					 opts->servername) :
			 req->status == 403 ?
			 errhint("The API key needs the %s scope.",
					 tc_resource_get(opts->resource)->scope) :
			 req->status == 404 && lookup ?
			 errhint("Only the API's own problem+json answer with status 404 means that there is no such object; check the server option base_url.") :
			 req->status == 400 && req->filters != NULL ?
			 errhint("The request filtered by %s: the API refused that filter or value.",
					 req->filters) : 0));
	return false;				/* keep compiler quiet */
}
