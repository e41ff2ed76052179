/*-------------------------------------------------------------------------
 *
 * convert.c
 *		  JSON objects from the TopCalls API to tuples of a foreign table,
 *		  through each column's own input function.
 *
 * Owns the column-to-field mapping, the error context that names the
 * column, the table and the value when a value does not convert, and the
 * parsed list pages the executor reads items, cursors and orders from.
 * Parsed answers (json.c's tapes) are palloc'd: a page lives in its own
 * memory context, a lookup's answer in the converter's, reset after each.
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

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "compat.h"
#include "topcalls_fdw.h"

/* Longest message of an input function's ERROR passed on (see below). */
#define TC_MAX_MESSAGE_LEN		1000

/*
 * Values up to this many bytes cannot make a message longer than
 * TC_MAX_MESSAGE_LEN (input functions add a short sentence around them).
 */
#define TC_SHORT_VALUE_LEN		512

/* A value of a parsed answer: the document, and the value's node. */
typedef struct TcJsonRef
{
	const TcJson *doc;			/* NULL: none */
	int			v;
} TcJsonRef;

/*
 * Key hints.  The objects of a list come with their keys in one order, row
 * after row, so each member's key is first compared with the key seen at
 * its position in the previous row: one comparison finds its column.  Only
 * a key that differs is searched for among the columns (and remembered).
 * Escaped keys, keys longer than TC_KEY_HINT_LEN and members beyond
 * TC_MAX_KEY_HINTS are searched for every time.
 */
#define TC_KEY_HINT_LEN			48
#define TC_MAX_KEY_HINTS		64
#define TC_KEY_HINT_UNSET		(-2)

typedef struct TcKeyHint
{
	int			col;			/* the key's column; -1: none;
								 * TC_KEY_HINT_UNSET: nothing remembered */
	uint32		len;
	char		name[TC_KEY_HINT_LEN];
} TcKeyHint;

/* Does col read a field of the row object itself (not '*', not '^x')? */
static inline bool
tc_is_own_field(const TcColumn *col)
{
	return col->field != NULL && !col->whole_object && !col->from_parent;
}

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

/* The value of the n decimal digits at p, or -1 if one is not a digit. */
static inline int
tc_digits_value(const char *p, int n)
{
	int			value = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (p[i] < '0' || p[i] > '9')
			return -1;
		value = value * 10 + (p[i] - '0');
	}
	return value;
}

/*
 * tc_instant_try
 *		The instant of text in the API's own form, "YYYY-MM-DDTHH:MM:SS",
 *		then up to six digits of a second after a ".", then "Z" or "+HH:MM"
 *		or "-HH:MM"; false, and no ERROR, for any other text.
 *
 * Every field is range-checked, so what this takes, timestamptz_in reads as
 * the same instant.  It is only the common case made cheap: a page of calls
 * has 200 created_at to read for the order check, and timestamptz_in (its
 * general date parser) takes longer than the rest of a row.
 */
bool
tc_instant_try(const char *text, TimestampTz *result)
{
	int			year,
				mon,
				mday,
				hour,
				min,
				sec;
	int64		usec = 0;
	int			offset = 0;		/* seconds east of UTC */
	const char *p = text;
	int			digits;
	size_t		rest;

	if (strlen(text) < 20 || p[4] != '-' || p[7] != '-' || p[10] != 'T' ||
		p[13] != ':' || p[16] != ':')
		return false;
	year = tc_digits_value(p, 4);
	mon = tc_digits_value(p + 5, 2);
	mday = tc_digits_value(p + 8, 2);
	hour = tc_digits_value(p + 11, 2);
	min = tc_digits_value(p + 14, 2);
	sec = tc_digits_value(p + 17, 2);
	if (year < 1 || mon < 1 || mon > 12 || mday < 1 ||
		mday > day_tab[isleap(year)][mon - 1] || hour < 0 || hour > 23 ||
		min < 0 || min > 59 || sec < 0 || sec > 59)
		return false;
	p += 19;
	if (*p == '.')
	{
		p++;
		for (digits = 0; digits < 6 && *p >= '0' && *p <= '9'; digits++, p++)
			usec = usec * 10 + (*p - '0');
		if (digits == 0 || (*p >= '0' && *p <= '9'))
			return false;		/* none, or more than 6: rounding is
								 * timestamptz_in's business */
		for (; digits < 6; digits++)
			usec *= 10;
	}
	rest = strlen(p);
	if (rest == 1 && p[0] == 'Z')
		offset = 0;
	else if (rest == 6 && (p[0] == '+' || p[0] == '-') && p[3] == ':')
	{
		int			oh = tc_digits_value(p + 1, 2);
		int			om = tc_digits_value(p + 4, 2);

		if (oh < 0 || oh > 15 || om < 0 || om > 59)
			return false;
		offset = (oh * 60 + om) * 60 * (p[0] == '-' ? -1 : 1);
	}
	else
		return false;

	*result = ((((int64) (date2j(year, mon, mday) - POSTGRES_EPOCH_JDATE) * 24 +
				 hour) * 60 + min) * 60 + sec - offset) * USECS_PER_SEC + usec;
	return true;
}


/*
 * tc_instant_in
 *		The instant a timestamp text of the API names, as timestamptz_in
 *		reads it (in the session's time zone when the text has no offset).
 */
TimestampTz
tc_instant_in(const char *text)
{
	TimestampTz ts;

	if (tc_instant_try(text, &ts))
		return ts;
	return DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
												   CStringGetDatum(text),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
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

/* A hexadecimal digit's value, or -1. */
static inline int
tc_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;					/* lower case */
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * tc_uuid_fast
 *		Read a uuid in its canonical form, 8-4-4-4-12 hexadecimal digits of
 *		either case, into *uuid, as uuid_in would (which calls strtoul for
 *		each byte).  False for any other text, which uuid_in reads or
 *		refuses with its own error.
 */
static bool
tc_uuid_fast(const char *text, pg_uuid_t *uuid)
{
	int			byte = 0;
	int			i = 0;

	while (byte < UUID_LEN)
	{
		int			hi,
					lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (text[i] != '-')
				return false;
			i++;
		}
		hi = tc_hex_value(text[i]);
		if (hi < 0)
			return false;
		lo = tc_hex_value(text[i + 1]);
		if (lo < 0)
			return false;
		uuid->data[byte++] = (unsigned char) (hi << 4 | lo);
		i += 2;
	}
	return text[i] == '\0';
}

/* The column's value from text in the database encoding. */
static Datum
tc_input_value(TcColumn *col, char *text)
{
	TimestampTz ts;

	/* the instant as timestamptz_in reads it; a timestamp's is the same */
	if (col->fast_instant && tc_instant_try(text, &ts))
		return TimestampTzGetDatum(ts);
	if (col->fast_uuid)
	{
		pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));

		if (tc_uuid_fast(text, uuid))
			return UUIDPGetDatum(uuid);
		pfree(uuid);
	}
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
	conv->answercxt = AllocSetContextCreate(cxt, "topcalls_fdw answer",
											ALLOCSET_DEFAULT_SIZES);
	conv->cxt = cxt;
	conv->field_nodes = palloc(sizeof(int) * Max(conv->natts, 1));
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
		col->field_len = strlen(field);
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
		col->fast_instant = att->atttypmod < 0 &&
			(att->atttypid == TIMESTAMPTZOID || att->atttypid == TIMESTAMPOID);
		col->fast_uuid = att->atttypid == UUIDOID;
	}

	/* columns of one own field share its value (see tc_match_fields) */
	for (i = 0; i < conv->natts; i++)
	{
		TcColumn   *col = &conv->cols[i];
		int			j;

		col->same_field_as = -1;
		if (!tc_is_own_field(col))
			continue;
		conv->any_own_field = true;
		for (j = 0; j < i; j++)
		{
			if (tc_is_own_field(&conv->cols[j]) &&
				conv->cols[j].same_field_as < 0 &&
				strcmp(conv->cols[j].field, col->field) == 0)
			{
				col->same_field_as = j;
				break;
			}
		}
	}
	MemoryContextSwitchTo(oldcxt);
	return conv;
}

/* The first column whose own field is key node k of doc, or -1. */
static int
tc_column_of_key(const TcConverter *conv, const TcJson *doc, int k)
{
	int			i;

	for (i = 0; i < conv->natts; i++)
	{
		const TcColumn *col = &conv->cols[i];

		if (tc_is_own_field(col) && col->same_field_as < 0 &&
			tc_json_key_is(doc, k, col->field, col->field_len))
			return i;
	}
	return -1;
}

/*
 * The value nodes of object obj's fields that columns need, found in one
 * pass over its members (see TcKeyHint), into conv->field_nodes.  When a
 * key is given twice, the last wins, as in jsonb (and tc_json_field).
 */
static void
tc_match_fields(TcConverter *conv, const TcJson *doc, int obj)
{
	uint32		count = doc->nodes[obj].count;
	int			k = obj + 1;
	uint32		j;
	int			i;

	for (i = 0; i < conv->natts; i++)
		conv->field_nodes[i] = -1;
	/* count(*), or only "*" and "^x" columns: no key needs looking at */
	if (!conv->any_own_field)
		return;
	if (conv->key_hints == NULL)
	{
		conv->key_hints = MemoryContextAlloc(conv->cxt,
											 sizeof(TcKeyHint) * TC_MAX_KEY_HINTS);
		for (j = 0; j < TC_MAX_KEY_HINTS; j++)
			conv->key_hints[j].col = TC_KEY_HINT_UNSET;
	}
	for (j = 0; j < count; j++)
	{
		const TcJsonNode *key = &doc->nodes[k];
		const char *name = doc->text + key->start;
		TcKeyHint  *hint = j < TC_MAX_KEY_HINTS ? &conv->key_hints[j] : NULL;
		int			col;

		if (hint != NULL && hint->col != TC_KEY_HINT_UNSET && !key->escaped &&
			key->len == hint->len && memcmp(name, hint->name, key->len) == 0)
			col = hint->col;
		else
		{
			col = tc_column_of_key(conv, doc, k);
			if (hint != NULL)
			{
				if (!key->escaped && key->len <= TC_KEY_HINT_LEN)
				{
					hint->col = col;
					hint->len = key->len;
					memcpy(hint->name, name, key->len);
				}
				else
					hint->col = TC_KEY_HINT_UNSET;
			}
		}
		if (col >= 0)
			conv->field_nodes[col] = k + 1;
		k = doc->nodes[k + 1].after;
	}
}

/*
 * The value of column attidx for a row: a row's own field (found by
 * tc_match_fields), or ("^x") field x of the parent object the row is
 * nested in.  The detail object, when there is one, has the item's fields
 * and more; a parent field it lacks is looked up in the list item, so that
 * one missing from either endpoint reads from the other.
 * The doc of each is given with it.  Returns false when missing or JSON
 * null.
 */
static bool
tc_row_field(const TcConverter *conv, int attidx, const TcJsonRef *row,
			 const TcJsonRef *parent, const TcJsonRef *parent_detail,
			 TcJsonRef *val)
{
	const TcColumn *col = &conv->cols[attidx];

	if (col->from_parent)
	{
		if (parent_detail->doc != NULL)
		{
			val->doc = parent_detail->doc;
			val->v = tc_json_field(val->doc, parent_detail->v,
								   col->field + 1, col->field_len - 1);
			if (val->v >= 0 && tc_json_kind(val->doc, val->v) != TC_JSON_KIND_NULL)
				return true;
		}
		if (parent->doc != NULL)
		{
			val->doc = parent->doc;
			val->v = tc_json_field(val->doc, parent->v,
								   col->field + 1, col->field_len - 1);
			return val->v >= 0 && tc_json_kind(val->doc, val->v) != TC_JSON_KIND_NULL;
		}
		return false;
	}
	*val = *row;
	if (col->whole_object)
		return true;
	/* found by tc_match_fields */
	val->v = conv->field_nodes[col->same_field_as >= 0 ? col->same_field_as : attidx];
	return val->v >= 0 && tc_json_kind(row->doc, val->v) != TC_JSON_KIND_NULL;
}

/*
 * One row to one tuple, allocated in the caller's memory context.  row is
 * the object a row is made of; parent and parent_detail (either may have no
 * doc) are the list item and the detail it is nested in, for "^x" fields.
 * The input functions' garbage goes to the per-row context, reset each
 * call.
 */
static HeapTuple
tc_convert_row(TcConverter *conv, const TcJsonRef *row,
			   const TcJsonRef *parent, const TcJsonRef *parent_detail,
			   const char *what)
{
	Datum	   *values = conv->values;
	bool	   *nulls = conv->nulls;
	MemoryContext oldcxt;
	TcConvertContext ctx;
	ErrorContextCallback errcb;
	HeapTuple	tuple;
	int			i;

	if (tc_json_kind(row->doc, row->v) != TC_JSON_KIND_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid answer to %s", what),
				 errdetail("Expected a JSON object for a row of foreign table \"%s\", got %s.",
						   conv->relname,
						   tc_json_kind_name(tc_json_kind(row->doc, row->v)))));

	MemoryContextReset(conv->rowcxt);
	oldcxt = MemoryContextSwitchTo(conv->rowcxt);
	/* in the row's context: an escaped key is unescaped to be compared */
	tc_match_fields(conv, row->doc, row->v);

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
		TcJsonRef	val;
		char	   *text;
		size_t		len;
		char	   *server_text;

		values[i] = (Datum) 0;
		nulls[i] = true;
		if (col->field == NULL)
			continue;			/* dropped, or not needed */

		if (!tc_row_field(conv, i, row, parent, parent_detail, &val))
			continue;			/* missing or JSON null: SQL NULL */

		ctx.attidx = i;
		ctx.value = NULL;
		text = tc_json_text(val.doc, val.v, &len);

		/*
		 * The API speaks UTF-8 (json.c has checked it); the input function
		 * expects the database encoding.  A character the database cannot
		 * hold, or a NUL from "\u0000", is an error here, with this column
		 * named in the context.
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
tc_convert_item(TcConverter *conv, const TcJsonRef *item,
				const TcJsonRef *detail, const char *what, TcTupleBuf *buf)
{
	const char *rows_field = conv->resource->rows_field;
	const TcJsonRef *source = detail->doc ? detail : item;
	MemoryContext oldcxt;

	if (rows_field == NULL)
	{
		HeapTuple	tuple;

		oldcxt = MemoryContextSwitchTo(buf->cxt);
		tuple = tc_convert_row(conv, source, item, detail, what);
		MemoryContextSwitchTo(oldcxt);
		tc_tuplebuf_add(buf, tuple);
	}
	else
	{
		TcJsonRef	row;
		int			rows;
		uint32		n;
		uint32		i;

		if (tc_json_kind(source->doc, source->v) != TC_JSON_KIND_OBJECT)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", what),
					 errdetail("Expected a JSON object for an item of foreign table \"%s\", got %s.",
							   conv->relname,
							   tc_json_kind_name(tc_json_kind(source->doc, source->v)))));
		rows = tc_json_field(source->doc, source->v, rows_field, strlen(rows_field));
		if (rows < 0 || tc_json_kind(source->doc, rows) == TC_JSON_KIND_NULL)
			return;				/* no turns: no rows */
		if (tc_json_kind(source->doc, rows) != TC_JSON_KIND_ARRAY)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", what),
					 errdetail("Expected \"%s\" to be an array for foreign table \"%s\", got %s.",
							   rows_field, conv->relname,
							   tc_json_kind_name(tc_json_kind(source->doc, rows)))));
		n = source->doc->nodes[rows].count;
		row.doc = source->doc;
		row.v = rows + 1;
		for (i = 0; i < n; i++)
		{
			HeapTuple	tuple;

			oldcxt = MemoryContextSwitchTo(buf->cxt);
			tuple = tc_convert_row(conv, &row, item, detail, what);
			MemoryContextSwitchTo(oldcxt);
			tc_tuplebuf_add(buf, tuple);
			row.v = source->doc->nodes[row.v].after;
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
	MemoryContext oldcxt = MemoryContextSwitchTo(conv->answercxt);
	TcJsonRef	item;
	TcJsonRef	none = {NULL, -1};

	item.doc = tc_api_parse(req, NULL);
	item.v = TC_JSON_ROOT;
	MemoryContextSwitchTo(oldcxt);
	tc_convert_item(conv, &item, &none, req->what, buf);
	MemoryContextReset(conv->answercxt);
}

/*
 * A list page, parsed and kept until its items are converted: its
 * document (whose text and tape are in the caller's buffer), and its
 * items' details, in the memory context the page was parsed in.
 */
struct TcParsedPage
{
	TcJson	   *doc;
	int		   *items;			/* the nodes of the items, in order */
	int			nitems;
	char	   *next_cursor;	/* NULL on the last page */
	char	   *what;			/* the request, for messages */
	bool	   *skip;			/* items not to convert */
	TcJson	  **details;		/* each item's detail; NULL until fetched */
	int			next;			/* first item not converted yet */
};

/*
 * tc_page_parse
 *		A list answer, parsed strictly and checked for shape, kept in cxt,
 *		its text and tape in buffer (the request's body goes when its
 *		callback returns; the page stays until converted).  The buffer must
 *		not be used again while the page is.
 *
 * The shape is the resource's: {"data": [...], "next_cursor": string or
 * null or absent}, or also a bare array of items (which has no next page).
 */
TcParsedPage *
tc_page_parse(TcConverter *conv, const TcHttpRequest *req, MemoryContext cxt,
			  TcJsonBuffer *buffer)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	TcParsedPage *page = palloc0(sizeof(TcParsedPage));
	TcJson	   *doc;
	TcJsonKind	root_kind;
	int			data = -1;
	int			cursor;

	page->what = pstrdup(req->what);
	doc = tc_api_parse(req, buffer);
	page->doc = doc;
	root_kind = tc_json_kind(doc, TC_JSON_ROOT);

	if (root_kind == TC_JSON_KIND_ARRAY &&
		conv->resource->list_shape == TC_LIST_ENVELOPE_OR_ARRAY)
		data = TC_JSON_ROOT;
	else if (root_kind != TC_JSON_KIND_OBJECT ||
			 (data = tc_json_field(doc, TC_JSON_ROOT, "data", 4)) < 0 ||
			 tc_json_kind(doc, data) != TC_JSON_KIND_ARRAY)
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

	if (data != TC_JSON_ROOT &&
		(cursor = tc_json_field(doc, TC_JSON_ROOT, "next_cursor", 11)) >= 0 &&
		tc_json_kind(doc, cursor) != TC_JSON_KIND_NULL)
	{
		bool		is_string = tc_json_kind(doc, cursor) == TC_JSON_KIND_STRING;
		size_t		len = 0;

		if (is_string)
			page->next_cursor = tc_json_text(doc, cursor, &len);
		if (len > TC_CURSOR_MAX_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", req->what),
					 errdetail("Its \"next_cursor\" is longer than %d bytes.",
							   TC_CURSOR_MAX_LEN)));
		if (!is_string || len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", req->what),
					 errdetail("\"next_cursor\" must be a non-empty string or null, got %s.",
							   tc_json_kind_name(tc_json_kind(doc, cursor)))));
	}

	page->items = tc_json_elements(doc, data, &page->nitems);
	page->skip = palloc0(sizeof(bool) * Max(page->nitems, 1));
	MemoryContextSwitchTo(oldcxt);
	return page;
}

/*
 * tc_page_peek_next_cursor
 *		A guess at the next_cursor of a list answer, before it is parsed
 *		(see tc_json_peek_last_string), palloc'd; NULL when none is to be
 *		had.  tc_page_parse's cursor is the real one.
 */
char *
tc_page_peek_next_cursor(const TcHttpRequest *req)
{
	char		cursor[TC_CURSOR_MAX_LEN + 1];

	if (req->body == NULL ||
		!tc_json_peek_last_string(req->body, req->body_len, "next_cursor",
								  cursor, sizeof(cursor)) ||
		cursor[0] == '\0')
		return NULL;
	return pstrdup(cursor);
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

/* Item i's field when it is a string: its node; else -1. */
static int
tc_page_item_string(const TcParsedPage *page, int i, const char *field)
{
	int			val = tc_json_field(page->doc, page->items[i], field, strlen(field));

	if (val < 0 || tc_json_kind(page->doc, val) != TC_JSON_KIND_STRING)
		return -1;
	return val;
}

/* String node val, if it fits in size bytes with no NUL, into buf. */
static bool
tc_short_string(const TcJson *doc, int val, char *buf, size_t size)
{
	const TcJsonNode *node = &doc->nodes[val];

	if (node->escaped)
	{
		size_t		len;
		char	   *text = tc_json_text(doc, val, &len);
		bool		fits = len < size && strlen(text) == len;

		if (fits)
			memcpy(buf, text, len + 1);
		pfree(text);
		return fits;
	}
	if (node->len >= size)
		return false;
	memcpy(buf, doc->text + node->start, node->len);
	buf[node->len] = '\0';
	return true;
}

/*
 * tc_page_item_id
 *		Item i's "id", normalized into out (TC_ID_BUFSIZE bytes); false when
 *		the item has none that is a UUID.
 */
bool
tc_page_item_id(const TcParsedPage *page, int i, char *out)
{
	char		buf[TC_ID_BUFSIZE];
	int			val = tc_page_item_string(page, i, "id");

	return val >= 0 && tc_short_string(page->doc, val, buf, sizeof(buf)) &&
		tc_api_normalize_id(buf, out);
}

/*
 * tc_page_item_instant
 *		Item i's field as an instant (see tc_instant_in); false when the
 *		item has no such string.  Text that is no timestamp is
 *		timestamptz_in's ERROR.
 */
bool
tc_page_item_instant(const TcParsedPage *page, int i, const char *field,
					 TimestampTz *ts)
{
	char		buf[TC_INSTANT_TEXT_MAX];
	int			val = tc_page_item_string(page, i, field);
	size_t		len;
	char	   *text;

	if (val < 0)
		return false;
	if (tc_short_string(page->doc, val, buf, sizeof(buf)))
	{
		*ts = tc_instant_in(buf);
		return true;
	}
	/*
	 * Long, or holding a NUL ("\u0000"): timestamptz_in says what is wrong
	 * with the first, the UTF-8 check (as for a column) with the second.
	 */
	text = tc_json_text(page->doc, val, &len);
	if (strlen(text) != len)
		(void) pg_verify_mbstr(PG_UTF8, text, (int) len, false);
	*ts = tc_instant_in(text);
	pfree(text);
	return true;
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
	MemoryContext oldcxt = MemoryContextSwitchTo(GetMemoryChunkContext(page));

	if (page->details == NULL)
		page->details = palloc0(sizeof(TcJson *) * Max(page->nitems, 1));
	if (found)
	{
		/* a buffer of its own: a copy of the body, in the page's context */
		TcJsonBuffer buffer;

		memset(&buffer, 0, sizeof(buffer));
		buffer.cxt = CurrentMemoryContext;
		page->details[i] = tc_api_parse(req, &buffer);
	}
	MemoryContextSwitchTo(oldcxt);
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
		TcJsonRef	item = {page->doc, page->items[i]};
		TcJsonRef	detail = {NULL, TC_JSON_ROOT};

		if (page->skip[i])
			continue;
		if (page->details != NULL && page->details[i] != NULL)
			detail.doc = page->details[i];
		tc_convert_item(conv, &item, &detail, page->what, buf);
		done++;
	}
	return page->next >= page->nitems;
}
