/*-------------------------------------------------------------------------
 *
 * convert.c
 *		  JSON objects from the TopCalls API to tuples of a foreign table,
 *		  through each column's own input function.
 *
 * Owns the column-to-field mapping and the error context that names the
 * column, the table and the value when a value does not convert.  json-c
 * trees never outlive the functions here: every parse is paired with a
 * json_object_put on all paths, errors included.
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
 */
TcConverter *
tc_converter_create(Relation rel, MemoryContext cxt)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	TcConverter *conv = palloc0(sizeof(TcConverter));
	int			i;

	conv->relname = pstrdup(RelationGetRelationName(rel));
	conv->tupdesc = tupdesc;
	conv->natts = tupdesc->natts;
	conv->cols = palloc0(sizeof(TcColumn) * Max(conv->natts, 1));
	conv->rowcxt = AllocSetContextCreate(cxt, "topcalls_fdw row",
										 ALLOCSET_SMALL_SIZES);

	for (i = 0; i < conv->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		TcColumn   *col = &conv->cols[i];
		Oid			infunc;
		char	   *field;

		if (att->attisdropped)
			continue;
		field = tc_column_field(RelationGetRelid(rel), att->attnum);
		col->field = pstrdup(field ? field : NameStr(att->attname));
		col->whole_object = strcmp(col->field, "*") == 0;
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
 * tc_convert_object
 *		One object to one tuple, allocated in the caller's memory context.  The
 * input functions' garbage goes to the per-row context, reset each call.
 */
HeapTuple
tc_convert_object(TcConverter *conv, struct json_object *obj, const char *what)
{
	Datum	   *values;
	bool	   *nulls;
	MemoryContext oldcxt;
	TcConvertContext ctx;
	ErrorContextCallback errcb;
	HeapTuple	tuple;
	int			i;

	if (!json_object_is_type(obj, json_type_object))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid answer to %s", what),
				 errdetail("Expected a JSON object for a row of foreign table \"%s\", got %s.",
						   conv->relname, tc_json_type_name(obj))));

	MemoryContextReset(conv->rowcxt);
	oldcxt = MemoryContextSwitchTo(conv->rowcxt);
	values = palloc(sizeof(Datum) * Max(conv->natts, 1));
	nulls = palloc(sizeof(bool) * Max(conv->natts, 1));

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
			continue;			/* dropped column */

		if (col->whole_object)
			val = obj;
		else if (!json_object_object_get_ex(obj, col->field, &val) || val == NULL)
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

/*
 * tc_convert_single
 *		A lookup's answer, one object, to a tuple in the current context.
 */
HeapTuple
tc_convert_single(TcConverter *conv, const TcHttpRequest *req)
{
	struct json_object *volatile root = NULL;
	volatile HeapTuple tuple = NULL;

	PG_TRY();
	{
		root = tc_api_parse(req);
		tuple = tc_convert_object(conv, root, req->what);
	}
	PG_FINALLY();
	{
		if (root)
			json_object_put(root);
	}
	PG_END_TRY();
	return tuple;
}

/*
 * tc_convert_page
 *		A list page: {"data": [objects], "next_cursor": string or null}.  The
 * tuples and the cursor are allocated in the caller's memory context.
 */
void
tc_convert_page(TcConverter *conv, const TcHttpRequest *req, TcPage *page)
{
	struct json_object *volatile root = NULL;

	memset(page, 0, sizeof(*page));
	PG_TRY();
	{
		struct json_object *data;
		struct json_object *cursor;
		size_t		n;
		size_t		i;

		root = tc_api_parse(req);
		if (!json_object_is_type(root, json_type_object) ||
			!json_object_object_get_ex(root, "data", &data) ||
			!json_object_is_type(data, json_type_array))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", req->what),
					 errdetail("Expected an object with a \"data\" array.")));

		if (json_object_object_get_ex(root, "next_cursor", &cursor) && cursor != NULL)
		{
			if (!json_object_is_type(cursor, json_type_string) ||
				json_object_get_string_len(cursor) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("invalid answer to %s", req->what),
						 errdetail("\"next_cursor\" must be a non-empty string or null, got %s.",
								   tc_json_type_name(cursor))));
			page->next_cursor = pstrdup(json_object_get_string(cursor));
		}

		n = json_object_array_length(data);
		page->tuples = palloc(sizeof(HeapTuple) * Max(n, 1));
		for (i = 0; i < n; i++)
			page->tuples[i] = tc_convert_object(conv,
												json_object_array_get_idx(data, i),
												req->what);
		page->ntuples = (int) n;
	}
	PG_FINALLY();
	{
		if (root)
			json_object_put(root);
	}
	PG_END_TRY();
}
