/*-------------------------------------------------------------------------
 *
 * topcalls_fdw.h
 *		  Shared declarations for topcalls_fdw.
 *
 * One header for the whole extension, as postgres_fdw has.  It must not
 * include json-c or libcurl headers: json-c's "json_object" type clashes with
 * PostgreSQL's SQL function of the same name (utils/fmgrprotos.h), so json-c
 * stays inside api.c and convert.c, and curl inside http.c.
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
#include "nodes/pg_list.h"
#include "utils/relcache.h"

struct json_object;				/* json-c's tree, opaque here */

/* ------------------------------------------------------------------------
 * option.c: the option table, the validator and the resolved options.
 * ------------------------------------------------------------------------
 */

#define TC_DEFAULT_BASE_URL			"https://api.topcalls.ai"
#define TC_DEFAULT_RESOURCE			"phone_numbers"

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

	/* user mapping; NULL when the mapping has no api_key */
	char	   *api_key;

	/* table */
	char	   *resource;
	double		rows;			/* table option "rows", -1 when not set */
} TcOptions;

extern void tc_get_options(Oid foreigntableid, Oid userid, TcOptions *opts);
extern void tc_require_api_key(const TcOptions *opts);
extern char *tc_column_field(Oid relid, AttrNumber attnum);
extern void tc_register_invalidation(void);

/* ------------------------------------------------------------------------
 * http.c: libcurl, the only file that includes curl.h.
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
	int			index;			/* the caller's own number for it */

	/* set by tc_http_run */
	long		status;			/* HTTP status; 0 when no answer came */
	char	   *body;			/* NUL-terminated, in the caller's context */
	size_t		body_len;
	char	   *content_type;	/* NULL if none */
	int			attempts;		/* requests sent for it, retries included */
	bool		transport_failed;	/* no usable answer: see error */
	bool		connect_failed; /* ... because no connection could be made */
	bool		too_large;		/* body exceeded max_response_bytes */
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
	int			inflight_peak;
} TcHttpStats;

/*
 * Called by tc_http_run, outside any curl callback, once per request when it
 * has finished (after its retries).  It may ereport: tc_http_run cleans up
 * every transfer still running.  Return false to stop starting new requests
 * (the ones in flight are abandoned and their "done" is not called).
 */
typedef bool (*TcHttpDoneFn) (TcHttpRequest *req, void *arg);

extern void tc_http_run(TcHttpRequest *reqs, int nreqs, const TcOptions *opts,
						TcHttpStats *stats, TcHttpDoneFn done, void *arg);
extern void tc_http_forget_connections(void);

/* ------------------------------------------------------------------------
 * topcalls_fdw.c and scan.c: the plan, and the scan that executes it.
 * ------------------------------------------------------------------------
 */

/*
 * fdw_private of a ForeignScan plan, a List indexed by these.  The id
 * expressions themselves are in fdw_exprs, so that generic plans and rescans
 * evaluate the current parameter values.
 */
enum TcScanPrivateIndex
{
	TC_PRIV_EXPR_IS_ARRAY,		/* List of Boolean-as-Integer, one per expr */
	TC_PRIV_PAGE_LIMIT,			/* Integer: limit of a list request */
	TC_PRIV_LOOKUP,				/* Integer: 1 when the scan looks ids up */
};

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

/* Reading a resource's list, page by page (scan.c; ANALYZE uses it too). */
typedef struct TcListReader TcListReader;

extern TcListReader *tc_list_create(const TcOptions *opts,
									struct TcConverter *conv, int page_limit,
									struct TcHttpStats *stats,
									MemoryContext cxt);
extern void tc_list_restart(TcListReader *lr);
extern HeapTuple tc_list_next(TcListReader *lr);
extern int64 tc_list_pages(const TcListReader *lr);

/* ------------------------------------------------------------------------
 * resource.c: the declarative table of TopCalls resources.
 * ------------------------------------------------------------------------
 */

/* One column of a resource, as IMPORT FOREIGN SCHEMA declares it. */
typedef struct TcResourceColumn
{
	const char *name;
	const char *type;
} TcResourceColumn;

/* A TopCalls collection a foreign table can read. */
typedef struct TcResource
{
	const char *name;			/* the "resource" option's value */
	const char *path;			/* e.g. "/v1/phone-numbers" */
	const char *scope;			/* the API key scope reading it needs */
	const TcResourceColumn *columns;	/* ended by a NULL name */
} TcResource;

extern const TcResource tc_resources[];
extern const TcResource *tc_resource_lookup(const char *name);
extern const TcResource *tc_resource_get(const char *name);
extern char *tc_resource_names(void);

/* ------------------------------------------------------------------------
 * api.c: TopCalls endpoints, URLs, answers and their errors.
 * ------------------------------------------------------------------------
 */

/* Deepest JSON nesting accepted in an answer. */
#define TC_JSON_MAX_DEPTH			64

/* Longest normalized id, with its NUL: a UUID is 36 characters. */
#define TC_ID_BUFSIZE				37

extern void tc_api_lookup_request(const TcOptions *opts, const char *id,
								  TcHttpRequest *req);
extern void tc_api_list_request(const TcOptions *opts, int limit,
								const char *cursor, TcHttpRequest *req);
extern char *tc_api_list_summary(const TcOptions *opts, int limit);
extern char *tc_api_lookup_summary(const TcOptions *opts);
extern bool tc_api_normalize_id(const char *in, char *out);
extern bool tc_api_check_answer(const TcHttpRequest *req, bool lookup,
								const TcOptions *opts);
extern struct json_object *tc_api_parse(const TcHttpRequest *req);

/* ------------------------------------------------------------------------
 * convert.c: JSON object to tuple through the columns' input functions.
 * ------------------------------------------------------------------------
 */

typedef struct TcColumn
{
	char	   *field;			/* JSON field; NULL for a dropped column */
	bool		whole_object;	/* field '*': the object as json/jsonb */
	FmgrInfo	infunc;
	Oid			ioparam;
	int32		typmod;
	char	   *attname;
	bool		utc_instant;	/* timestamp or date: the instant, as UTC */
	bool		to_date;		/* ... and then its date */
	FmgrInfo	datefunc;		/* date(timestamptz), for to_date */
} TcColumn;

typedef struct TcConverter
{
	char	   *relname;
	TupleDesc	tupdesc;
	int			natts;
	TcColumn   *cols;
	MemoryContext rowcxt;		/* reset for each converted object */
} TcConverter;

/* Longest piece of an outside value quoted in a message or context. */
#define TC_QUOTE_LEN				60

extern char *tc_shorten(const char *s, int maxlen);
extern TcConverter *tc_converter_create(Relation rel, MemoryContext cxt);
extern HeapTuple tc_convert_object(TcConverter *conv, struct json_object *obj,
								   const char *what);

/* One page of the list endpoint, converted. */
typedef struct TcPage
{
	HeapTuple  *tuples;
	int			ntuples;
	char	   *next_cursor;	/* NULL on the last page */
} TcPage;

extern void tc_convert_page(TcConverter *conv, const TcHttpRequest *req,
							TcPage *page);
extern HeapTuple tc_convert_single(TcConverter *conv, const TcHttpRequest *req);

#endif							/* TOPCALLS_FDW_H */
