/*-------------------------------------------------------------------------
 *
 * topcalls_fdw.h
 *		  Shared declarations for topcalls_fdw.
 *
 * One header for the whole extension, as postgres_fdw has.  It must not
 * include libcurl's headers: curl stays inside http.c, transfer.c and
 * connection.c (whose own headers are transfer.h and connection.h).
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/topcalls_fdw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPCALLS_FDW_H
#define TOPCALLS_FDW_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "nodes/pg_list.h"
#include "datatype/timestamp.h"
#include "utils/relcache.h"

/* The extension's version: the SQL objects', the module's, the User-Agent's. */
#define TC_VERSION					"1.1"

struct TcResource;
struct LWLock;

/* ------------------------------------------------------------------------
 * option.c: the option table, the validator and the resolved options.
 * ------------------------------------------------------------------------
 */

#define TC_DEFAULT_BASE_URL			"https://api.topcalls.ai"
#define TC_DEFAULT_RESOURCE			"phone_numbers"

/* The API key's identity: its SHA-256, and the start of that shown to users. */
#define TC_KEY_DIGEST_LEN			32
#define TC_FINGERPRINT_LEN			12

/* Everything a scan needs, merged from server, user mapping and table. */
typedef struct TcOptions
{
	Oid			userid;			/* whose user mapping applies */
	Oid			serverid;
	Oid			umid;			/* user mapping OID, InvalidOid if none */
	char	   *servername;

	/* server */
	char	   *base_url;		/* no trailing slash */
	int			timeout_ms;
	int			connect_timeout_ms;
	int			page_size;
	int			max_concurrency;
	int			max_retries;
	int64		max_response_bytes;
	char	   *ca_file;		/* NULL: the system's CA bundle */
	double		request_cost;
	double		row_cost;
	double		rate_limit;		/* requests/s for server and key; 0: none */
	int			rate_burst;		/* 0: rate_limit, rounded up */
	int			cache_ttl_ms;	/* 0: the shared cache is not used */
	int			max_idle_connections;

	/* user mapping; NULL when the mapping has no api_key */
	char	   *api_key;
	/* SHA-256 of api_key (all zero without one): the key's identity */
	uint8		key_digest[TC_KEY_DIGEST_LEN];
	char		key_fingerprint[TC_FINGERPRINT_LEN + 1];	/* its start, in hex */

	/* table */
	Oid			relid;
	char	   *resource;
	double		rows;			/* table option "rows", -1 when not set */
	bool		time_pushdown;	/* table option: rely on the list's order */
} TcOptions;

extern void tc_get_options(Oid foreigntableid, Oid userid, TcOptions *opts);
extern void tc_require_api_key(const TcOptions *opts);
extern char *tc_column_field(Oid relid, AttrNumber attnum);
extern const char *tc_effective_field(const struct TcResource *resource,
									  Oid relid, Form_pg_attribute att);
extern void tc_register_invalidation(void);

/* ------------------------------------------------------------------------
 * http.c: HTTP transfers (with transfer.c and connection.c, the only files
 * that include curl.h).
 * ------------------------------------------------------------------------
 */

/*
 * One HTTP GET.  The caller fills the first block; tc_http_run fills the
 * second.  "what" names the request in messages ("GET /v1/phone-numbers/…");
 * it never contains the host or the key.
 */
typedef struct TcHttpRequest
{
	/* set by the caller */
	char	   *url;			/* absolute URL */
	char	   *what;			/* method and path, for messages */
	char	   *filters;		/* "status=busy, ...": a list's filters, or NULL */
	int			index;			/* the caller's own number for it */
	char		cache_kind;		/* TC_CACHE_LOOKUP: a 200 answer may be served
								 * from and stored in the shared cache; 0: not */

	/* set by tc_http_run */
	long		status;			/* HTTP status; 0 when no answer came */
	char	   *body;			/* NUL-terminated, in the caller's context */
	size_t		body_len;
	char	   *content_type;	/* NULL if none */
	int			attempts;		/* requests sent for it, retries included */
	bool		from_cache;		/* the answer came from the shared cache */
	bool		cache_ok;		/* set by "done": the answer is good, and may be
								 * stored in the cache (cache_kind) */
	bool		transport_failed;	/* no usable answer: see error */
	bool		connect_failed; /* ... because no connection could be made */
	bool		too_large;		/* body exceeded max_response_bytes */
	bool		too_slow;		/* cut off: fewer than slow_min_bytes came in
								 * the last slow_window_s seconds */
	long		slow_window_s;
	long		slow_min_bytes;
	char	   *error;			/* curl's message when transport_failed */
	void	   *priv;			/* http.c's own state */
} TcHttpRequest;

/* What the scan's EXPLAIN ANALYZE reports; tc_http_run adds to it. */
typedef struct TcHttpStats
{
	int64		requests;		/* HTTP requests sent, retries included */
	int64		retries;
	int64		bytes_received; /* decoded body bytes */
	double		wait_ms;		/* time spent inside tc_http_run */
	double		throttled_ms;	/* ... of which waiting for the rate limiter */
	int64		cache_hits;		/* answers served from the shared cache */
	int64		cache_misses;	/* ... looked for there and not found */
	int			inflight_peak;
} TcHttpStats;

/*
 * Called by tc_http_run, outside any curl callback, once per request when it
 * has finished (after its retries), or when the cache answered it.  It may
 * ereport: tc_http_run cleans up every transfer still running.  The body
 * and content type are freed when it returns (after storing them in the
 * cache, if it set cache_ok): it must not keep them, nor free them.  Return false to stop starting new requests
 * (the ones in flight are abandoned and their "done" is not called).
 */
typedef bool (*TcHttpDoneFn) (TcHttpRequest *req, void *arg);

/*
 * Work of the caller's that tc_http_run does while requests travel (say,
 * converting the page before the one in flight), a slice at a time, between
 * its looks at the transfers.  Returns true while more work remains.  It
 * may ereport, as "done" may.  All of it is done before tc_http_run returns.
 */
typedef bool (*TcHttpWorkFn) (void *arg);

extern void tc_http_run(TcHttpRequest *reqs, int nreqs, const TcOptions *opts,
						TcHttpStats *stats, TcHttpDoneFn done,
						TcHttpWorkFn work, void *arg);
extern uint64 tc_http_start(TcHttpRequest *reqs, int nreqs,
							const TcOptions *opts, TcHttpStats *stats,
							TcHttpDoneFn done, void *arg, bool ahead);
extern bool tc_http_finish(uint64 handle, TcHttpWorkFn work);
extern void tc_http_abandon(uint64 handle, bool bodies_gone);
extern void tc_http_forget_connections(void);

/* ------------------------------------------------------------------------
 * shared.c: the state shared by every backend (or kept per backend when
 * no shared memory is to be had): limiter, statistics, learned sizes.
 * ------------------------------------------------------------------------
 */

typedef struct TcServerState TcServerState;	/* opaque: shared.c */

/* A copy of one server+key's statistics, for the view (stats.c). */
#define TC_HIST_BUCKETS				96
typedef struct TcServerStats
{
	Oid			dbid;
	Oid			serverid;
	char		servername[NAMEDATALEN];
	char		key_fingerprint[TC_FINGERPRINT_LEN + 1];
	bool		shared;			/* kept in memory every backend sees */
	int64		requests;
	int64		retries;
	int64		responses_2xx;
	int64		responses_404;
	int64		responses_4xx;	/* other than 404 and 429 */
	int64		rate_limited;	/* 429 */
	int64		responses_5xx;
	int64		responses_other;	/* 1xx and 3xx */
	int64		transport_errors;
	int64		bytes_received;
	double		http_time_ms;
	double		throttled_ms;
	int64		cache_hits;
	int64		cache_misses;
	int64		latency[TC_HIST_BUCKETS];
	TimestampTz stats_reset;
} TcServerStats;

extern void tc_shared_init(void);
extern bool tc_shared_available(void);
extern TcServerState *tc_server_state(const TcOptions *opts);
extern long tc_limit_reserve(TcServerState *st, const TcOptions *opts,
							 long max_wait_ms, long *paused_ms);
extern void tc_limit_release(TcServerState *st, double interval_us, int n);
extern long tc_limit_pause_end(TcServerState *st);
extern void tc_server_count_request(TcServerState *st, bool retry);
extern void tc_server_count_answer(TcServerState *st, bool sent, bool retry,
								   long status, bool transport_error,
								   size_t bytes, double elapsed_ms,
								   long retry_after_ms);
extern void tc_server_count_cache(TcServerState *st, int64 hits, int64 misses);
extern void tc_server_count_throttled(TcServerState *st, double ms);
extern double tc_latency_percentile(const TcServerStats *s, double fraction);
extern List *tc_shared_snapshot(void);
extern void tc_shared_reset_stats(void);
extern void tc_shared_set_table_rows(const TcOptions *opts, double rows);
extern double tc_shared_table_rows(const TcOptions *opts);
extern void *tc_shared_cache_area(Size *size, struct LWLock **lock);
extern int64 tc_monotonic_us(void);

/* ------------------------------------------------------------------------
 * cache.c: the opt-in cache of answers (cache_ttl_ms), in shared memory.
 * ------------------------------------------------------------------------
 */

#define TC_CACHE_LOOKUP				'G' /* one GET by id */
#define TC_CACHE_LIST				'L' /* every page of a complete list */

extern void tc_cache_define_gucs(void);
extern void tc_cache_init_area(void *mem, Size size);
extern bool tc_cache_enabled(const TcOptions *opts);
/* What tc_cache_fetch found. */
typedef enum TcCacheResult
{
	TC_CACHE_MISS,
	TC_CACHE_HIT,
	TC_CACHE_CLAIMED,			/* not there: this backend fetches it */
	TC_CACHE_PENDING,			/* not there: another backend fetches it */
	TC_CACHE_REFRESH			/* there, old: this backend fetches a new one */
} TcCacheResult;

extern char *tc_cache_fetch(const TcOptions *opts, char kind, const char *url,
							size_t *len, bool claim, TcCacheResult *result);
extern bool tc_cache_put(const TcOptions *opts, char kind, const char *url,
						 const char *data, size_t len);
extern void tc_cache_unclaim(const TcOptions *opts, char kind, const char *url);
extern Size tc_cache_max_entry(void);
extern void tc_cache_reset(void);

/* ------------------------------------------------------------------------
 * topcalls_fdw.c and scan.c: the plan, and the scan that executes it.
 * ------------------------------------------------------------------------
 */

/*
 * fdw_private of a ForeignScan plan, a List indexed by these.  The values
 * that choose the requests (ids, filter values, time bounds) are
 * expressions in fdw_exprs, so that generic plans and rescans evaluate the
 * current parameter values; TC_PRIV_EXPR_KINDS says what each one is.
 */
enum TcScanPrivateIndex
{
	TC_PRIV_LOOKUP,				/* Integer: 1 when the scan looks ids up */
	TC_PRIV_EXPR_KINDS,			/* List of Integer, one per fdw_expr: a
								 * TC_EXPR_* kind, see TC_EXPR_KIND() */
	TC_PRIV_PAGE_LIMIT,			/* Integer: limit of a list request */
	TC_PRIV_ATTRS,				/* List of Integer: the attnos converted;
								 * NIL: all */
	TC_PRIV_DETAILS,			/* Integer: 1 when each row's detail is read */
	TC_PRIV_ROW_LIMIT,			/* Integer: rows a LIMIT takes, 0: unknown */
	TC_PRIV_RESCANS,			/* Integer: 1 when rescans with the same
								 * requests are expected */
};

/* What an expression of fdw_exprs gives, in an Integer of TC_PRIV_EXPR_KINDS. */
#define TC_EXPR_KEY				1	/* the ids of a lookup */
#define TC_EXPR_FILTER			2	/* values of the filter number TC_EXPR_ARG */
#define TC_EXPR_TIME_LO			3	/* created_at >= value (or > if STRICT) */
#define TC_EXPR_TIME_HI			4	/* created_at <= value (or < if STRICT) */
#define TC_EXPR_ARRAY			0x100	/* the value is an array of them */
#define TC_EXPR_STRICT			0x200	/* a strict inequality */
#define TC_EXPR_KIND(code)		((code) & 0xff)
#define TC_EXPR_ARG(code)		((code) >> 16)
#define TC_EXPR_CODE(kind, arg, flags)	((kind) | (flags) | ((arg) << 16))

struct ForeignScanState;
struct ExplainState;
struct TupleTableSlot;
struct TcConverter;

extern void tcBeginForeignScan(struct ForeignScanState *node, int eflags);
extern struct TupleTableSlot *tcIterateForeignScan(struct ForeignScanState *node);
extern void tcReScanForeignScan(struct ForeignScanState *node);
extern void tcEndForeignScan(struct ForeignScanState *node);
extern void tcExplainForeignScan(struct ForeignScanState *node,
								 struct ExplainState *es);
extern char **tc_value_texts(Datum value, Oid type, bool is_array, int *count);

/* ------------------------------------------------------------------------
 * list.c: reading a resource's lists (the executor and ANALYZE use it).
 * ------------------------------------------------------------------------
 */

/* One list to read: its filters and time bounds. */
typedef struct TcListSpec
{
	List	   *filters;		/* query parameter names and values, alternately */
	bool		has_hi;			/* start at a cursor of time hi */
	TimestampTz hi;
	bool		has_lo;			/* stop at the first row older than lo */
	TimestampTz lo;
	bool		lo_strict;		/* ... or as old as lo */
} TcListSpec;

typedef struct TcListSet TcListSet;

extern TcListSet *tc_listset_create(const TcOptions *opts,
									struct TcConverter *conv, int page_limit,
									int row_limit, bool details,
									struct TcHttpStats *stats,
									MemoryContext cxt);
extern void tc_listset_add(TcListSet *set, const TcListSpec *spec);
extern void tc_listset_restart(TcListSet *set);
extern HeapTuple tc_listset_next(TcListSet *set);
extern void tc_listset_end(TcListSet *set);
extern int64 tc_listset_pages(const TcListSet *set);
extern int64 tc_listset_details(const TcListSet *set);

/* ------------------------------------------------------------------------
 * resource.c: the declarative table of TopCalls resources.
 * ------------------------------------------------------------------------
 */

/* The JSON type of a documented field. */
typedef enum TcJsonType
{
	TC_JSON_STRING,
	TC_JSON_NUMBER,
	TC_JSON_BOOLEAN,
	TC_JSON_ARRAY,
	TC_JSON_OBJECT
} TcJsonType;

/* One documented column of a resource (see resource.c). */
typedef struct TcResourceColumn
{
	const char *name;			/* IMPORT's column name; the default field */
	const char *type;			/* IMPORT's SQL type */
	const char *field;			/* JSON field when not the name: "*" the
								 * whole object, "^x" the parent's field x */
	TcJsonType	json_type;
	bool		detail_only;	/* only GET <get_path>/{id} has it */
} TcResourceColumn;

/* A filter the list endpoint accepts: field = value becomes param=value. */
typedef struct TcResourceFilter
{
	const char *field;			/* the JSON field it tests */
	const char *param;			/* the query parameter */
	const char *const *values;	/* the values accepted; NULL: any UUID */
} TcResourceFilter;

/* How a list answers. */
typedef enum TcListShape
{
	TC_LIST_ENVELOPE,			/* {"data": [...], "next_cursor": ...} */
	TC_LIST_ENVELOPE_OR_ARRAY	/* that, or a bare JSON array of items */
} TcListShape;

/* A TopCalls collection a foreign table can read. */
typedef struct TcResource
{
	const char *name;			/* the "resource" option's value */
	const char *scope;			/* the API key scope reading it needs */
	const char *list_path;		/* e.g. "/v1/calls" */
	TcListShape list_shape;
	const char *get_path;		/* GET <get_path>/{id}; NULL when none */
	const char *key_field;		/* the field a lookup gives ("^id": the
								 * parent's id) */
	const char *rows_field;		/* NULL: each item is a row; else the array
								 * in each item whose elements are the rows */
	const TcResourceColumn *columns;	/* ended by a NULL name */
	const TcResourceFilter *filters;	/* ended by a NULL field; may be NULL */
	const char *order_field;	/* the list is newest first by this field,
								 * and a cursor may be one of its values */
} TcResource;

extern const TcResource tc_resources[];
extern const TcResource *tc_resource_lookup(const char *name);
extern const TcResource *tc_resource_get(const char *name);
extern char *tc_resource_names(void);
extern const TcResourceColumn *tc_resource_column(const TcResource *r,
												  const char *field);
extern const TcResourceFilter *tc_resource_filter(const TcResource *r,
												  const char *field);
extern bool tc_filter_accepts(const TcResourceFilter *f, const char *value);
extern char *tc_resource_fields(const TcResource *r);

/* ------------------------------------------------------------------------
 * json.c: the JSON parser and its tape.
 * ------------------------------------------------------------------------
 */

/* Deepest JSON nesting accepted in an answer. */
#define TC_JSON_MAX_DEPTH			64

typedef enum TcJsonKind
{
	TC_JSON_KIND_NULL,
	TC_JSON_KIND_FALSE,
	TC_JSON_KIND_TRUE,
	TC_JSON_KIND_NUMBER,
	TC_JSON_KIND_STRING,
	TC_JSON_KIND_ARRAY,
	TC_JSON_KIND_OBJECT
} TcJsonKind;

/*
 * One value, or one object key, of a parsed text.  An object's members
 * follow it on the tape as key, value, key, value...; an array's as its
 * elements; each member's "after" leads to the next.
 */
typedef struct TcJsonNode
{
	uint32		start;			/* offset in the text: a string's contents
								 * (after the quote); else the value's first
								 * byte */
	uint32		len;			/* bytes of that (a string: without quotes) */
	uint32		after;			/* the node after this value and its members */
	uint32		count;			/* container: members (an object's: pairs) */
	uint8		kind;			/* TcJsonKind */
	bool		escaped;		/* string: holds a backslash escape */
} TcJsonNode;

/* A parsed text: its tape, whose node 0 is the root value. */
typedef struct TcJson
{
	const char *text;			/* not owned: kept by the caller */
	size_t		len;
	TcJsonNode *nodes;
	int			nnodes;
} TcJson;

#define TC_JSON_ROOT				0

/* Memory kept for parsing one text after another (see tc_json_parse). */
typedef struct TcJsonBuffer
{
	MemoryContext cxt;			/* where it is allocated */
	char	   *text;			/* the text's copy */
	size_t		text_cap;
	TcJsonNode *nodes;			/* the tape */
	uint32		nodes_cap;
} TcJsonBuffer;

static inline TcJsonKind
tc_json_kind(const TcJson *doc, int v)
{
	return (TcJsonKind) doc->nodes[v].kind;
}

extern TcJson *tc_json_parse(const char *text, size_t len,
							  TcJsonBuffer *buffer, const char **error);
extern const char *tc_json_kind_name(TcJsonKind kind);
extern char *tc_json_text(const TcJson *doc, int v, size_t *len);
extern int	tc_json_field(const TcJson *doc, int obj, const char *name,
						  size_t namelen);
extern bool tc_json_key_is(const TcJson *doc, int k, const char *name,
						   size_t namelen);
extern int *tc_json_elements(const TcJson *doc, int arr, int *n);
extern bool tc_json_peek_last_string(const char *text, size_t len,
									 const char *key, char *out,
									 size_t outsize);

/* ------------------------------------------------------------------------
 * api.c: TopCalls endpoints, URLs, answers and their errors.
 * ------------------------------------------------------------------------
 */

/* Longest normalized id, with its NUL: a UUID is 36 characters. */
#define TC_ID_BUFSIZE				37

extern void tc_api_lookup_request(const TcOptions *opts, const char *id,
								  TcHttpRequest *req);
extern void tc_api_list_request(const TcOptions *opts, int limit,
								List *filters, const char *cursor,
								TcHttpRequest *req);
extern char *tc_api_list_summary(const TcOptions *opts, int limit,
								 const char *params);
extern char *tc_api_lookup_summary(const TcOptions *opts);
extern bool tc_api_normalize_id(const char *in, char *out);
extern bool tc_api_check_answer(const TcHttpRequest *req, bool lookup,
								const TcOptions *opts);
extern TcJson *tc_api_parse(const TcHttpRequest *req, TcJsonBuffer *buffer);

/* ------------------------------------------------------------------------
 * convert.c: JSON object to tuple through the columns' input functions.
 * ------------------------------------------------------------------------
 */

typedef struct TcColumn
{
	char	   *field;			/* JSON field; NULL: dropped, or not needed */
	size_t		field_len;
	bool		whole_object;	/* field '*': the object as json/jsonb */
	bool		from_parent;	/* field '^x': the parent object's x */
	FmgrInfo	infunc;
	Oid			ioparam;
	int32		typmod;
	char	   *attname;
	bool		utc_instant;	/* timestamp or date: the instant, as UTC */
	bool		to_date;		/* ... and then its date */
	bool		fast_instant;	/* timestamp(tz) without typmod: the API's
								 * own form is read without the input
								 * function (see tc_instant_in) */
	FmgrInfo	datefunc;		/* date(timestamptz), for to_date */
	bool		fast_uuid;		/* uuid: the canonical form is read without
								 * the input function (see tc_uuid_fast) */
	int			same_field_as;	/* an earlier column of the same own field,
								 * whose value this one shares; -1: none */
} TcColumn;

typedef struct TcConverter
{
	char	   *relname;
	const TcResource *resource;
	TupleDesc	tupdesc;
	int			natts;
	TcColumn   *cols;
	Datum	   *values;			/* one row's, reused */
	bool	   *nulls;
	MemoryContext rowcxt;		/* reset for each converted object */
	MemoryContext answercxt;	/* a lookup's parsed answer, reset after it */
	MemoryContext cxt;			/* the converter's own */
	int		   *field_nodes;	/* per column: its own field's value node in
								 * the current row, -1: missing */
	struct TcKeyHint *key_hints;	/* per member position: the key seen
									 * there last, and its column */
	bool		any_own_field;	/* some needed column reads a field of the
								 * row itself */
} TcConverter;

/* Tuples collected in a context of their own choosing. */
typedef struct TcTupleBuf
{
	MemoryContext cxt;
	HeapTuple  *tuples;
	int			ntuples;
	int			cap;
} TcTupleBuf;

/* A list answer, parsed and kept until converted (opaque: convert.c). */
typedef struct TcParsedPage TcParsedPage;

/* Longest piece of an outside value quoted in a message or context. */
#define TC_QUOTE_LEN				60

/* Longest request quoted in a message ("GET /v1/...&cursor=..."). */
#define TC_WHAT_LEN					300

/* Longest next_cursor accepted from the API. */
#define TC_CURSOR_MAX_LEN			4096

/* Longest timestamp text read without a palloc. */
#define TC_INSTANT_TEXT_MAX			64

extern char *tc_shorten(const char *s, int maxlen);
extern TimestampTz tc_instant_in(const char *text);
extern bool tc_instant_try(const char *text, TimestampTz *ts);
extern TcConverter *tc_converter_create(Relation rel, const TcResource *resource,
										Bitmapset *needed, MemoryContext cxt);
extern void tc_tuplebuf_add(TcTupleBuf *buf, HeapTuple tuple);
extern void tc_convert_answer(TcConverter *conv, const TcHttpRequest *req,
							  TcTupleBuf *buf);
extern TcParsedPage *tc_page_parse(TcConverter *conv, const TcHttpRequest *req,
								   MemoryContext cxt, TcJsonBuffer *buffer);
extern char *tc_page_peek_next_cursor(const TcHttpRequest *req);
extern int	tc_page_nitems(const TcParsedPage *page);
extern const char *tc_page_next_cursor(const TcParsedPage *page);
extern bool tc_page_item_id(const TcParsedPage *page, int i, char *out);
extern bool tc_page_item_instant(const TcParsedPage *page, int i,
								 const char *field, TimestampTz *ts);
extern void tc_page_skip(TcParsedPage *page, int i);
extern bool tc_page_skipped(const TcParsedPage *page, int i);
extern void tc_page_set_detail(TcParsedPage *page, int i,
							   const TcHttpRequest *req, bool found);
extern bool tc_page_convert(TcConverter *conv, TcParsedPage *page,
							int max_items, TcTupleBuf *buf);

#endif							/* TOPCALLS_FDW_H */
