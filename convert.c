/*-------------------------------------------------------------------------
 *
 * convert.c
 *		  JSON objects from the TopCalls API to tuples of a foreign table,
 *		  through each column's own input function.
 *
 * Owns the column-to-field mapping, the error context that names the
 * column, the table and the value when a value does not convert, and the
 * parsed list pages the executor reads items, cursors and orders from.
 * json-c trees never outlive their owner: a tree parsed here is freed on
 * every path, errors included, either by PG_FINALLY in the function that
 * parsed it or, for a page kept between calls, by a reset callback of the
 * memory context the page lives in.
 *
 * Only the columns a scan needs are converted; the others stay NULL.
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/convert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <json-c/json.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "pgtime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "compat.h"
#include "topcalls_fdw.h"

/* Longest message of an input function's ERROR passed on (see below). */
#define TC_MAX_MESSAGE_LEN		1000

/*
 * Values up to this many bytes cannot make a message longer than
 * TC_MAX_MESSAGE_LEN (input functions add a short sentence around them).
 */
#define TC_SHORT_VALUE_LEN		512

/* What the error context callback needs to name the culprit. */
typedef struct TcConvertContext
{
	TcConverter *conv;
	int			attidx;			/* -1: not converting a column */
	const char *value;			/* in the server encoding, or NULL */
} TcConvertContext;

/*
 * tc_shorten
 *		s cut to at most maxlen bytes at a character boundary, "..." added when
 * cut: values quoted in messages come from outside and may be megabytes.
 * s must be in the server encoding.
 */
char *
tc_shorten(const char *s, int maxlen)
{
	int			len = strlen(s);
	int			cut;

	if (len <= maxlen)
		return pstrdup(s);
	cut = pg_mbcliplen(s, len, maxlen);
	return psprintf("%.*s...", cut, s);
}

/* Error context: the column, the table and the value being converted. */
static void
tc_convert_error_callback(void *arg)
{
	TcConvertContext *ctx = (TcConvertContext *) arg;
	TcColumn   *col;

	if (ctx->attidx < 0)
		return;
	col = &ctx->conv->cols[ctx->attidx];
	if (ctx->value)
		errcontext("column \"%s\" of foreign table \"%s\", value \"%s\"",
				   col->attname, ctx->conv->relname,
				   tc_shorten(ctx->value, TC_QUOTE_LEN));
	else
		errcontext("column \"%s\" of foreign table \"%s\"",
				   col->attname, ctx->conv->relname);
}

/* Each line of s shortened to maxlen bytes (see tc_shorten). */
static char *
tc_shorten_lines(const char *s, int maxlen)
{
	StringInfoData buf;
	const char *line = s;

	initStringInfo(&buf);
	for (;;)
	{
		const char *end = strchr(line, '\n');
		char	   *piece = end ? pnstrdup(line, end - line) : pstrdup(line);

		appendStringInfoString(&buf, tc_shorten(piece, maxlen));
		pfree(piece);
		if (end == NULL)
			break;
		appendStringInfoChar(&buf, '\n');
		line = end + 1;
	}
	return buf.data;
}

/*
 * Rethrow the ERROR being handled, clipped.  Input functions quote the
 * whole value in their message ("invalid input syntax for type uuid:
 * \"...\""), some in DETAIL as well (jsonb's "Token ... is invalid") and
 * in CONTEXT ("JSON data, line 1: ..."), and a value from the API can be
 * megabytes long: the ERROR sent to the client and written to the server
 * log would be as long.  Message, detail and hint are clipped, and so is
 * each line of the context, which keeps our own line (naming the column)
 * whole.
 */
static void
tc_rethrow_clipped(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	if (edata->message)
		edata->message = tc_shorten(edata->message, TC_MAX_MESSAGE_LEN);
	if (edata->detail)
		edata->detail = tc_shorten(edata->detail, TC_MAX_MESSAGE_LEN);
	if (edata->detail_log)
		edata->detail_log = tc_shorten(edata->detail_log, TC_MAX_MESSAGE_LEN);
	if (edata->hint)
		edata->hint = tc_shorten(edata->hint, TC_MAX_MESSAGE_LEN);
	if (edata->context)
		edata->context = tc_shorten_lines(edata->context, TC_MAX_MESSAGE_LEN);
	ReThrowError(edata);
}

/*
 * The value of a timestamp or date column: the instant the text names, as
 * UTC.  timestamptz_in reads the text with the session's TimeZone set to
 * UTC for the duration (an offset in the text wins, as ever; text without
 * one is UTC), and a timestamp's microseconds since 2000-01-01 are then the
 * UTC wall time of the instant.  timestamp_in would keep the wall time as
 * written and drop the offset, so "10:00+02:00" would read as 10:00 and
 * rows with different offsets would sort wrongly.
 */
static Datum
tc_input_utc(TcColumn *col, char *text)
{
	static pg_tz *utc = NULL;
	pg_tz	   *saved = session_timezone;
	volatile Datum result = (Datum) 0;

	if (utc == NULL)
	{
		utc = pg_tzset("UTC");
		if (utc == NULL)
			elog(ERROR, "could not load time zone \"UTC\"");
	}
	session_timezone = utc;
	PG_TRY();
	{
		result = InputFunctionCall(&col->infunc, text, TIMESTAMPTZOID,
								   col->typmod);
		if (col->to_date)
			result = FunctionCall1(&col->datefunc, result);
	}
	PG_FINALLY();
	{
		session_timezone = saved;
	}
	PG_END_TRY();
	return result;
}

/* The column's value from text in the database encoding. */
static Datum
tc_input_value(TcColumn *col, char *text)
{
	if (col->utc_instant)
		return tc_input_utc(col, text);
	return InputFunctionCall(&col->infunc, text, col->ioparam, col->typmod);
}

/*
 * tc_converter_create
 *		What converting objects to tuples of rel needs: each column's field
 *		and input function, looked up once per scan, in cxt.
 *
 * needed: the attribute numbers the scan needs (NULL: all of them); the
 * other columns are left NULL, their values never looked at.
 */
TcConverter *
tc_converter_create(Relation rel, const TcResource *resource,
					Bitmapset *needed, MemoryContext cxt)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	TcConverter *conv = palloc0(sizeof(TcConverter));
	int			i;

	conv->relname = pstrdup(RelationGetRelationName(rel));
	conv->resource = resource;
	conv->tupdesc = tupdesc;
	conv->natts = tupdesc->natts;
	conv->cols = palloc0(sizeof(TcColumn) * Max(conv->natts, 1));
	conv->rowcxt = AllocSetContextCreate(cxt, "topcalls_fdw row",
										 ALLOCSET_SMALL_SIZES);
	conv->values = palloc(sizeof(Datum) * Max(conv->natts, 1));
	conv->nulls = palloc(sizeof(bool) * Max(conv->natts, 1));

	for (i = 0; i < conv->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		TcColumn   *col = &conv->cols[i];
		Oid			infunc;
		const char *field;

		if (att->attisdropped)
			continue;
		if (needed != NULL && !bms_is_member(att->attnum, needed))
			continue;			/* not needed: stays NULL */
		field = tc_effective_field(resource, RelationGetRelid(rel), att);
		col->field = pstrdup(field);
		col->whole_object = strcmp(col->field, "*") == 0;
		col->from_parent = col->field[0] == '^';
		col->attname = pstrdup(NameStr(att->attname));
		col->typmod = att->atttypmod;
		if (att->atttypid == TIMESTAMPOID || att->atttypid == DATEOID)
		{
			/* see tc_input_utc */
			col->utc_instant = true;
			col->to_date = att->atttypid == DATEOID;
			fmgr_info_cxt(F_TIMESTAMPTZ_IN, &col->infunc, cxt);
			if (col->to_date)
			{
				fmgr_info_cxt(TC_F_DATE_FROM_TIMESTAMPTZ, &col->datefunc, cxt);
				col->typmod = -1;
			}
		}
		else
		{
			getTypeInputInfo(att->atttypid, &infunc, &col->ioparam);
			fmgr_info_cxt(infunc, &col->infunc, cxt);
		}
	}
	MemoryContextSwitchTo(oldcxt);
	return conv;
}

static const char *
tc_json_type_name(struct json_object *val)
{
	return json_type_to_name(json_object_get_type(val));
}

/*
 * The text a JSON value gives to an input function: a string's contents,
 * anything else as its JSON text (so json/jsonb columns take objects and
 * arrays, and numeric columns take numbers as written).
 */
static const char *
tc_json_value_text(struct json_object *val, size_t *len)
{
	const char *s;

	if (json_object_is_type(val, json_type_string))
	{
		*len = json_object_get_string_len(val);
		return json_object_get_string(val);
	}
	s = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN |
									   JSON_C_TO_STRING_NOSLASHESCAPE);
	*len = strlen(s);
	return s;
}

/*
 * The value of field for a row: a row's own field, or ("^x") field x of the
 * parent object the row is nested in.  The detail object, when there is
 * one, has the item's fields and more; a field it lacks is looked up in the
 * list item, so that one missing from either endpoint reads from the other.
 * NULL when missing or JSON null.
 */
static struct json_object *
tc_row_field(const TcColumn *col, struct json_object *row,
			 struct json_object *parent, struct json_object *parent_detail)
{
	struct json_object *val = NULL;

	if (col->from_parent)
	{
		const char *name = col->field + 1;

		if (parent_detail != NULL &&
			json_object_object_get_ex(parent_detail, name, &val) && val != NULL)
			return val;
		if (parent != NULL && json_object_object_get_ex(parent, name, &val))
			return val;
		return NULL;
	}
	if (col->whole_object)
		return row;
	if (json_object_object_get_ex(row, col->field, &val))
		return val;
	return NULL;
}

/*
 * One row to one tuple, allocated in the caller's memory context.  row is
 * the object a row is made of; parent and parent_detail (either may be NULL)
 * are the list item and the detail it is nested in, for "^x" fields.  The
 * input functions' garbage goes to the per-row context, reset each call.
 */
static HeapTuple
tc_convert_row(TcConverter *conv, struct json_object *row,
			   struct json_object *parent, struct json_object *parent_detail,
			   const char *what)
{
	Datum	   *values = conv->values;
	bool	   *nulls = conv->nulls;
	MemoryContext oldcxt;
	TcConvertContext ctx;
	ErrorContextCallback errcb;
	HeapTuple	tuple;
	int			i;

	if (!json_object_is_type(row, json_type_object))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid answer to %s", what),
				 errdetail("Expected a JSON object for a row of foreign table \"%s\", got %s.",
						   conv->relname, tc_json_type_name(row))));

	MemoryContextReset(conv->rowcxt);
	oldcxt = MemoryContextSwitchTo(conv->rowcxt);

	ctx.conv = conv;
	ctx.attidx = -1;
	ctx.value = NULL;
	errcb.callback = tc_convert_error_callback;
	errcb.arg = &ctx;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	for (i = 0; i < conv->natts; i++)
	{
		TcColumn   *col = &conv->cols[i];
		struct json_object *val;
		const char *text;
		size_t		len;
		char	   *server_text;

		values[i] = (Datum) 0;
		nulls[i] = true;
		if (col->field == NULL)
			continue;			/* dropped, or not needed */

		val = tc_row_field(col, row, parent, parent_detail);
		if (val == NULL)
			continue;			/* missing or JSON null: SQL NULL */

		ctx.attidx = i;
		ctx.value = NULL;
		text = tc_json_value_text(val, &len);

		/*
		 * The API speaks UTF-8 (json-c has validated it); the input function
		 * expects the database encoding.  A character the database cannot
		 * hold is an error here, with this column named in the context.
		 */
		server_text = pg_any_to_server(text, (int) len, PG_UTF8);
		ctx.value = server_text;
		if (len <= TC_SHORT_VALUE_LEN)
			values[i] = tc_input_value(col, server_text);
		else
		{
			/* only a long value can make a long message: skip the setjmp */
			PG_TRY();
			{
				values[i] = tc_input_value(col, server_text);
			}
			PG_CATCH();
			{
				tc_rethrow_clipped(conv->rowcxt);
			}
			PG_END_TRY();
		}
		nulls[i] = false;
	}

	error_context_stack = errcb.previous;

	MemoryContextSwitchTo(oldcxt);
	tuple = heap_form_tuple(conv->tupdesc, values, nulls);
	return tuple;
}

/* Append a tuple to buf, growing it in its context. */
void
tc_tuplebuf_add(TcTupleBuf *buf, HeapTuple tuple)
{
	if (buf->ntuples >= buf->cap)
	{
		int			newcap = Max(buf->cap * 2, 64);

		buf->tuples = buf->tuples == NULL ?
			MemoryContextAlloc(buf->cxt, sizeof(HeapTuple) * newcap) :
			repalloc(buf->tuples, sizeof(HeapTuple) * newcap);
		buf->cap = newcap;
	}
	buf->tuples[buf->ntuples++] = tuple;
}

/*
 * The rows of one item (and its detail, if any) into buf: the item itself,
 * or the elements of its rows_field array for a resource whose rows are
 * nested (a call's transcript turns).  Tuples go to buf's context.
 */
static void
tc_convert_item(TcConverter *conv, struct json_object *item,
				struct json_object *detail, const char *what, TcTupleBuf *buf)
{
	const char *rows_field = conv->resource->rows_field;
	MemoryContext oldcxt;

	if (rows_field == NULL)
	{
		HeapTuple	tuple;

		oldcxt = MemoryContextSwitchTo(buf->cxt);
		tuple = tc_convert_row(conv, detail ? detail : item, item, detail, what);
		MemoryContextSwitchTo(oldcxt);
		tc_tuplebuf_add(buf, tuple);
	}
	else
	{
		struct json_object *source = detail ? detail : item;
		struct json_object *rows = NULL;
		size_t		n;
		size_t		i;

		if (!json_object_is_type(source, json_type_object))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", what),
					 errdetail("Expected a JSON object for an item of foreign table \"%s\", got %s.",
							   conv->relname, tc_json_type_name(source))));
		if (!json_object_object_get_ex(source, rows_field, &rows) || rows == NULL)
			return;				/* no turns: no rows */
		if (!json_object_is_type(rows, json_type_array))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", what),
					 errdetail("Expected \"%s\" to be an array for foreign table \"%s\", got %s.",
							   rows_field, conv->relname, tc_json_type_name(rows))));
		n = json_object_array_length(rows);
		for (i = 0; i < n; i++)
		{
			HeapTuple	tuple;

			oldcxt = MemoryContextSwitchTo(buf->cxt);
			tuple = tc_convert_row(conv, json_object_array_get_idx(rows, i),
								   item, detail, what);
			MemoryContextSwitchTo(oldcxt);
			tc_tuplebuf_add(buf, tuple);
		}
	}
}

/*
 * tc_convert_answer
 *		A get endpoint's answer (one object) to the rows it holds, appended
 *		to buf: one row, or one per nested element.
 */
void
tc_convert_answer(TcConverter *conv, const TcHttpRequest *req, TcTupleBuf *buf)
{
	struct json_object *volatile root = NULL;

	PG_TRY();
	{
		root = tc_api_parse(req);
		tc_convert_item(conv, root, NULL, req->what, buf);
	}
	PG_FINALLY();
	{
		if (root)
			json_object_put(root);
	}
	PG_END_TRY();
}

/*
 * A list page, parsed and kept until its items are converted.  The json-c
 * trees (the page's and its items' details) belong to the memory context
 * the page was parsed in: a reset callback frees them with it, on every
 * path.
 */
struct TcParsedPage
{
	struct json_object *root;
	struct json_object *items;	/* borrowed from root: the array of items */
	int			nitems;
	char	   *next_cursor;	/* NULL on the last page */
	char	   *what;			/* the request, for messages */
	bool	   *skip;			/* items not to convert */
	struct json_object **details;	/* owned; NULL until fetched */
	int			next;			/* first item not converted yet */
	MemoryContextCallback freeing;
};

static void
tc_page_free_trees(void *arg)
{
	TcParsedPage *page = (TcParsedPage *) arg;
	int			i;

	if (page->details != NULL)
	{
		for (i = 0; i < page->nitems; i++)
		{
			if (page->details[i] != NULL)
				json_object_put(page->details[i]);
			page->details[i] = NULL;
		}
	}
	if (page->root != NULL)
		json_object_put(page->root);
	page->root = NULL;
	page->items = NULL;
}

/*
 * tc_page_parse
 *		A list answer, parsed strictly and checked for shape, kept in cxt.
 *
 * The shape is the resource's: {"data": [...], "next_cursor": string or
 * null or absent}, or also a bare array of items (which has no next page).
 */
TcParsedPage *
tc_page_parse(TcConverter *conv, const TcHttpRequest *req, MemoryContext cxt)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	TcParsedPage *page = palloc0(sizeof(TcParsedPage));
	struct json_object *root;
	struct json_object *data = NULL;
	struct json_object *cursor = NULL;

	page->what = pstrdup(req->what);
	root = tc_api_parse(req);
	/* from here on the tree goes with cxt */
	page->root = root;
	page->freeing.func = tc_page_free_trees;
	page->freeing.arg = page;
	MemoryContextRegisterResetCallback(cxt, &page->freeing);

	if (json_object_is_type(root, json_type_array) &&
		conv->resource->list_shape == TC_LIST_ENVELOPE_OR_ARRAY)
		data = root;
	else if (!json_object_is_type(root, json_type_object) ||
			 !json_object_object_get_ex(root, "data", &data) ||
			 !json_object_is_type(data, json_type_array))
	{
		if (conv->resource->list_shape == TC_LIST_ENVELOPE_OR_ARRAY)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", req->what),
					 errdetail("Expected an object with a \"data\" array, or an array.")));
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid answer to %s", req->what),
				 errdetail("Expected an object with a \"data\" array.")));
	}

	if (data != root &&
		json_object_object_get_ex(root, "next_cursor", &cursor) && cursor != NULL)
	{
		if (json_object_is_type(cursor, json_type_string) &&
			json_object_get_string_len(cursor) > TC_CURSOR_MAX_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", req->what),
					 errdetail("Its \"next_cursor\" is longer than %d bytes.",
							   TC_CURSOR_MAX_LEN)));
		if (!json_object_is_type(cursor, json_type_string) ||
			json_object_get_string_len(cursor) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", req->what),
					 errdetail("\"next_cursor\" must be a non-empty string or null, got %s.",
							   tc_json_type_name(cursor))));
		page->next_cursor = pstrdup(json_object_get_string(cursor));
	}

	page->items = data;
	page->nitems = (int) json_object_array_length(data);
	page->skip = palloc0(sizeof(bool) * Max(page->nitems, 1));
	MemoryContextSwitchTo(oldcxt);
	return page;
}

/*
 * tc_page_nitems, tc_page_next_cursor
 *		The number of items of a page, and the cursor of the next (NULL on
 *		the last page).
 */
int
tc_page_nitems(const TcParsedPage *page)
{
	return page->nitems;
}

const char *
tc_page_next_cursor(const TcParsedPage *page)
{
	return page->next_cursor;
}

/*
 * tc_page_item_string
 *		The string value of field of item i, or NULL when the item is not an
 *		object or the field is missing, null or not a string.  Valid as long
 *		as the page.
 */
const char *
tc_page_item_string(const TcParsedPage *page, int i, const char *field)
{
	struct json_object *item = json_object_array_get_idx(page->items, i);
	struct json_object *val;

	if (item == NULL || !json_object_is_type(item, json_type_object) ||
		!json_object_object_get_ex(item, field, &val) ||
		!json_object_is_type(val, json_type_string))
		return NULL;
	return json_object_get_string(val);
}

/*
 * tc_page_skip
 *		Leave item i out of the rows (a repeat, or beyond a time bound).
 */
void
tc_page_skip(TcParsedPage *page, int i)
{
	page->skip[i] = true;
}

bool
tc_page_skipped(const TcParsedPage *page, int i)
{
	return page->skip[i];
}

/*
 * tc_page_set_detail
 *		The answer to item i's detail request: parsed and kept with the page
 *		(a 2xx), or nothing (the API's 404: the call went away since the list
 *		was read; its row then has the list's fields only).
 */
void
tc_page_set_detail(TcParsedPage *page, int i, const TcHttpRequest *req,
				   bool found)
{
	MemoryContext cxt = GetMemoryChunkContext(page);

	if (page->details == NULL)
		page->details = MemoryContextAllocZero(cxt, sizeof(struct json_object *) *
											   Max(page->nitems, 1));
	if (!found)
		return;
	page->details[i] = tc_api_parse(req);
}

/*
 * tc_page_convert
 *		Convert up to max_items more items of the page (skipped ones do not
 *		count) into buf; returns true when every item has been converted.
 */
bool
tc_page_convert(TcConverter *conv, TcParsedPage *page, int max_items,
				TcTupleBuf *buf)
{
	int			done = 0;

	while (page->next < page->nitems && done < max_items)
	{
		int			i = page->next++;

		if (page->skip[i])
			continue;
		tc_convert_item(conv, json_object_array_get_idx(page->items, i),
						page->details ? page->details[i] : NULL,
						page->what, buf);
		done++;
	}
	return page->next >= page->nitems;
}
