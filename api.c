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

#include <json-c/json.h>

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
 * RFC 8259 grammar check, run before json-c.  json-c 0.16's "strict" mode
 * still takes NaN, Infinity, single-quoted strings and "1.", which no JSON
 * API sends: an answer containing them is corrupt and must not become data.
 * UTF-8 validity is left to json-c (JSON_TOKENER_VALIDATE_UTF8).
 */
typedef struct TcJsonScan
{
	const char *p;
	const char *end;
	int			depth;
	int64		values;			/* values seen, containers included */
	int64		containers;		/* objects and arrays seen */
	const char *error;
} TcJsonScan;

/*
 * json-c spends some 70 bytes on a scalar and some 800 on an object (its hash
 * table), so a few MB of "[{},{},...]" would cost GBs of memory, well within
 * max_response_bytes: bound what one answer may hold.  A page of 200 phone
 * numbers holds some 4000 values and 400 containers.
 */
#define TC_JSON_MAX_VALUES		1000000
#define TC_JSON_MAX_CONTAINERS	50000

static bool tc_scan_value(TcJsonScan *sc);

static void
tc_scan_ws(TcJsonScan *sc)
{
	while (sc->p < sc->end &&
		   (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
		sc->p++;
}

static bool
tc_scan_fail(TcJsonScan *sc, const char *error)
{
	if (sc->error == NULL)
		sc->error = error;
	return false;
}

/* Four hex digits of a \u escape, as a number. */
static bool
tc_scan_hex4(TcJsonScan *sc, int *value)
{
	int			i;

	*value = 0;
	for (i = 0; i < 4; i++)
	{
		unsigned char c;

		if (sc->p >= sc->end || !isxdigit((unsigned char) *sc->p))
			return false;
		c = (unsigned char) *sc->p++;
		*value = *value * 16 + (isdigit(c) ? c - '0' : pg_ascii_tolower(c) - 'a' + 10);
	}
	return true;
}

static bool
tc_scan_string(TcJsonScan *sc)
{
	sc->p++;					/* the opening quote */
	while (sc->p < sc->end)
	{
		unsigned char c = (unsigned char) *sc->p++;

		if (c == '"')
			return true;
		if (c < 0x20)
			return tc_scan_fail(sc, gettext_noop("A string in the body contains a raw control character."));
		if (c == '\\')
		{
			if (sc->p >= sc->end)
				break;
			c = (unsigned char) *sc->p++;
			if (c == 'u')
			{
				int			cp;

				if (!tc_scan_hex4(sc, &cp))
					return tc_scan_fail(sc, gettext_noop("A \\u escape in the body is not followed by four hex digits."));
				if (cp >= 0xDC00 && cp <= 0xDFFF)
					return tc_scan_fail(sc, gettext_noop("A string in the body contains an unpaired UTF-16 surrogate escape."));
				if (cp >= 0xD800 && cp <= 0xDBFF)
				{
					int			low;

					if (sc->end - sc->p < 2 || sc->p[0] != '\\' || sc->p[1] != 'u')
						return tc_scan_fail(sc, gettext_noop("A string in the body contains an unpaired UTF-16 surrogate escape."));
					sc->p += 2;
					if (!tc_scan_hex4(sc, &low))
						return tc_scan_fail(sc, gettext_noop("A \\u escape in the body is not followed by four hex digits."));
					if (low < 0xDC00 || low > 0xDFFF)
						return tc_scan_fail(sc, gettext_noop("A string in the body contains an unpaired UTF-16 surrogate escape."));
				}
			}
			else if (strchr("\"\\/bfnrt", c) == NULL)
				return tc_scan_fail(sc, gettext_noop("A string in the body contains an invalid escape."));
		}
	}
	return tc_scan_fail(sc, gettext_noop("A string in the body is not terminated."));
}

static bool
tc_scan_digits(TcJsonScan *sc)
{
	const char *start = sc->p;

	while (sc->p < sc->end && isdigit((unsigned char) *sc->p))
		sc->p++;
	return sc->p > start;
}

/*
 * Does the integer literal [start, end) fit in int64, or in uint64 when it is
 * not negative?  json-c 0.16 silently saturates the others (it reads
 * 123456789012345678901234567890 as 18446744073709551615), so they are
 * refused rather than turned into another number.  JSON integers have no
 * leading zeros, so comparing lengths, then digits, compares the values.
 */
static bool
tc_integer_fits(const char *start, const char *end)
{
	bool		negative = (*start == '-');
	const char *digits = start + (negative ? 1 : 0);
	const char *limit = negative ? "9223372036854775808" : "18446744073709551615";
	size_t		ndigits = end - digits;
	size_t		nlimit = strlen(limit);

	return ndigits < nlimit ||
		(ndigits == nlimit && memcmp(digits, limit, nlimit) <= 0);
}

static bool
tc_scan_number(TcJsonScan *sc)
{
	const char *start = sc->p;
	bool		integer = true;

	if (*sc->p == '-')
		sc->p++;
	if (sc->p < sc->end && *sc->p == '0')
		sc->p++;
	else if (!tc_scan_digits(sc))
		return tc_scan_fail(sc, gettext_noop("A number in the body is malformed."));
	if (sc->p < sc->end && *sc->p == '.')
	{
		integer = false;
		sc->p++;
		if (!tc_scan_digits(sc))
			return tc_scan_fail(sc, gettext_noop("A number in the body is malformed."));
	}
	if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E'))
	{
		integer = false;
		sc->p++;
		if (sc->p < sc->end && (*sc->p == '+' || *sc->p == '-'))
			sc->p++;
		if (!tc_scan_digits(sc))
			return tc_scan_fail(sc, gettext_noop("A number in the body is malformed."));
	}
	if (integer && !tc_integer_fits(start, sc->p))
		return tc_scan_fail(sc, gettext_noop("An integer in the body does not fit in 64 bits."));
	return true;
}

static bool
tc_scan_literal(TcJsonScan *sc, const char *word)
{
	size_t		len = strlen(word);

	if ((size_t) (sc->end - sc->p) < len || memcmp(sc->p, word, len) != 0)
		return tc_scan_fail(sc, gettext_noop("The body contains an unexpected character."));
	sc->p += len;
	return true;
}

/* An object or array: open, members separated by commas, close. */
static bool
tc_scan_container(TcJsonScan *sc, char close, bool is_object)
{
	if (++sc->depth > TC_JSON_MAX_DEPTH)
		return tc_scan_fail(sc, gettext_noop("The body's nesting is too deep."));
	if (++sc->containers > TC_JSON_MAX_CONTAINERS)
		return tc_scan_fail(sc, gettext_noop("The body holds too many objects and arrays."));
	sc->p++;
	tc_scan_ws(sc);
	if (sc->p < sc->end && *sc->p == close)
	{
		sc->p++;
		sc->depth--;
		return true;
	}
	for (;;)
	{
		tc_scan_ws(sc);
		if (is_object)
		{
			if (sc->p >= sc->end || *sc->p != '"')
				return tc_scan_fail(sc, gettext_noop("An object key in the body is not a double-quoted string."));
			if (!tc_scan_string(sc))
				return false;
			tc_scan_ws(sc);
			if (sc->p >= sc->end || *sc->p != ':')
				return tc_scan_fail(sc, gettext_noop("An object key in the body is not followed by a colon."));
			sc->p++;
		}
		if (!tc_scan_value(sc))
			return false;
		tc_scan_ws(sc);
		if (sc->p < sc->end && *sc->p == ',')
		{
			sc->p++;
			continue;
		}
		if (sc->p < sc->end && *sc->p == close)
		{
			sc->p++;
			sc->depth--;
			return true;
		}
		return tc_scan_fail(sc, sc->p >= sc->end ? gettext_noop("The JSON text ends too early.") :
							gettext_noop("The body contains an unexpected character."));
	}
}

static bool
tc_scan_value(TcJsonScan *sc)
{
	if (++sc->values > TC_JSON_MAX_VALUES)
		return tc_scan_fail(sc, gettext_noop("The body holds too many values."));
	tc_scan_ws(sc);
	if (sc->p >= sc->end)
		return tc_scan_fail(sc, gettext_noop("The JSON text ends too early."));
	switch (*sc->p)
	{
		case '{':
			return tc_scan_container(sc, '}', true);
		case '[':
			return tc_scan_container(sc, ']', false);
		case '"':
			return tc_scan_string(sc);
		case 't':
			return tc_scan_literal(sc, "true");
		case 'f':
			return tc_scan_literal(sc, "false");
		case 'n':
			return tc_scan_literal(sc, "null");
		default:
			if (*sc->p == '-' || isdigit((unsigned char) *sc->p))
				return tc_scan_number(sc);
			return tc_scan_fail(sc, gettext_noop("The body contains an unexpected character."));
	}
}

/* Is body one strict JSON value, with nothing but white space around it? */
static bool
tc_json_is_strict(const char *body, size_t len, const char **error)
{
	TcJsonScan	sc;

	sc.p = body;
	sc.end = body + len;
	sc.depth = 0;
	sc.values = 0;
	sc.containers = 0;
	sc.error = NULL;
	if (!tc_scan_value(&sc))
	{
		*error = sc.error;
		return false;
	}
	tc_scan_ws(&sc);
	if (sc.p != sc.end)
	{
		*error = gettext_noop("There is more text after the JSON value.");
		return false;
	}
	return true;
}

/*
 * Parse JSON strictly: no comments, no single quotes, no NaN, valid UTF-8,
 * bounded depth, nothing but white space after the value.  Returns NULL and
 * sets *error on failure; never raises an ERROR, so callers can free what
 * they hold first.
 */
static struct json_object *
tc_parse_json(const char *body, size_t len, const char **error)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t		end;

	*error = NULL;
	if (len == 0)
	{
		*error = gettext_noop("The body is empty.");
		return NULL;
	}
	if (len > INT_MAX)
	{
		*error = gettext_noop("The body is too large to parse.");
		return NULL;
	}
	if (memchr(body, '\0', len) != NULL)
	{
		*error = gettext_noop("The body contains a NUL byte.");
		return NULL;
	}
	if (!tc_json_is_strict(body, len, error))
		return NULL;

	/*
	 * json-c's UTF-8 check lets overlong forms, encoded surrogates and code
	 * points past U+10FFFF through; PostgreSQL's does not.
	 */
	if (!pg_verify_mbstr(PG_UTF8, body, (int) len, true))
	{
		*error = gettext_noop("The body is not valid UTF-8.");
		return NULL;
	}

	tok = json_tokener_new_ex(TC_JSON_MAX_DEPTH);
	if (tok == NULL)
	{
		*error = gettext_noop("There was not enough memory to parse the body.");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, body, (int) len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	if (jerr == json_tokener_continue)
	{
		*error = gettext_noop("The JSON text ends too early.");
		return NULL;
	}
	if (jerr != json_tokener_success)
	{
		*error = gettext_noop("json-c refused the body.");
		return NULL;
	}
	for (; end < len; end++)
	{
		if (!isspace((unsigned char) body[end]))
		{
			json_object_put(root);
			*error = gettext_noop("There is more text after the JSON value.");
			return NULL;
		}
	}
	return root;
}

/*
 * tc_api_parse
 *		Parse a successful answer's body strictly, or raise the ERROR that
 *		says what is wrong with it.
 *
 * The caller owns the result and must json_object_put it on every path.
 */
struct json_object *
tc_api_parse(const TcHttpRequest *req)
{
	const char *error;
	struct json_object *root = tc_parse_json(req->body, req->body_len, &error);

	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid JSON in the answer to %s", req->what),
				 errdetail("%s", _(error))));
	return root;
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
	struct json_object *root;
	struct json_object *val;
	bool		is_object;

	*title = *detail = NULL;
	*status = 0;
	if (req->body == NULL || req->body_len == 0)
		return false;
	root = tc_parse_json(req->body, req->body_len, &error);
	if (root == NULL)
		return false;
	is_object = json_object_is_type(root, json_type_object);
	if (is_object)
	{
		if (json_object_object_get_ex(root, "title", &val) &&
			json_object_is_type(val, json_type_string) &&
			json_object_get_string_len(val) > 0)
			*title = tc_excerpt(json_object_get_string(val),
								json_object_get_string_len(val), TC_EXCERPT_LEN);
		if (json_object_object_get_ex(root, "detail", &val) &&
			json_object_is_type(val, json_type_string) &&
			json_object_get_string_len(val) > 0)
			*detail = tc_excerpt(json_object_get_string(val),
								 json_object_get_string_len(val), 2 * TC_EXCERPT_LEN);
		if (json_object_object_get_ex(root, "status", &val) &&
			json_object_is_type(val, json_type_int))
			*status = json_object_get_int64(val);
	}
	json_object_put(root);
	return is_object;
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
