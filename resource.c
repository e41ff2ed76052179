/*-------------------------------------------------------------------------
 *
 * resource.c
 *		  The TopCalls collections a foreign table can read, declared once.
 *
 * Each entry says what the rest of the extension needs to know of one
 * resource: the name the "resource" table option takes (and IMPORT FOREIGN
 * SCHEMA gives its table), the scope a key needs to read it, the list's path
 * and answer shape, the get endpoint and the field lookups go by, whether
 * rows are nested in the list's items, its columns (with their JSON types
 * and which endpoint has them), the filters the API accepts, and the field
 * the list is ordered by.  The planner, the executor, option checking,
 * URLs, error hints and IMPORT FOREIGN SCHEMA all work from this table, with
 * no per-resource code anywhere else.
 *
 * What this file must not do: build URLs, talk to the network or look at
 * answers (api.c, http.c), or know about catalogs (option.c).
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/resource.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "topcalls_fdw.h"

/*
 * Columns: name (IMPORT FOREIGN SCHEMA's column, and the field a column of
 * that name reads), SQL type, JSON field when it differs from the name
 * ("*": the whole object; "^x": field x of the parent object, for resources
 * whose rows are nested in the items of a list), JSON type, and whether
 * only the detail endpoint (GET <path>/{id}) has it.
 */
#define COL(name, type, json) {name, type, NULL, json, false}
#define COL_FIELD(name, type, field, json) {name, type, field, json, false}
#define COL_DETAIL(name, type, json) {name, type, NULL, json, true}

static const TcResourceColumn tc_phone_number_columns[] = {
	COL("id", "uuid", TC_JSON_STRING),
	COL("account_id", "uuid", TC_JSON_STRING),
	COL("number", "text", TC_JSON_STRING),
	COL("source", "text", TC_JSON_STRING),
	COL("status", "text", TC_JSON_STRING),
	COL("phone_number_sid", "uuid", TC_JSON_STRING),
	COL("voip_carrier_sid", "uuid", TC_JSON_STRING),
	COL("carrier_name", "text", TC_JSON_STRING),
	COL("label", "text", TC_JSON_STRING),
	COL("error_message", "text", TC_JSON_STRING),
	COL("created_by_user_id", "uuid", TC_JSON_STRING),
	COL("created_at", "timestamptz", TC_JSON_STRING),
	COL("updated_at", "timestamptz", TC_JSON_STRING),
	{NULL}
};

static const TcResourceColumn tc_call_columns[] = {
	COL("id", "uuid", TC_JSON_STRING),
	COL_DETAIL("account_id", "uuid", TC_JSON_STRING),
	COL("phone_number", "text", TC_JSON_STRING),
	COL("from_phone_number", "text", TC_JSON_STRING),
	COL("status", "text", TC_JSON_STRING),
	COL("call_status", "text", TC_JSON_STRING),
	COL_DETAIL("external_call_id", "text", TC_JSON_STRING),
	COL("duration", "numeric", TC_JSON_NUMBER),
	COL("transcript", "jsonb", TC_JSON_ARRAY),
	COL("recording_url", "text", TC_JSON_STRING),
	COL("call_summary", "text", TC_JSON_STRING),
	COL("error_message", "text", TC_JSON_STRING),
	COL("answered_by", "text", TC_JSON_STRING),
	COL("campaign_id", "uuid", TC_JSON_STRING),
	COL("lead_id", "uuid", TC_JSON_STRING),
	COL_DETAIL("completed", "boolean", TC_JSON_BOOLEAN),
	COL("created_at", "timestamptz", TC_JSON_STRING),
	COL("started_at", "timestamptz", TC_JSON_STRING),
	COL("end_at", "timestamptz", TC_JSON_STRING),
	COL_DETAIL("metadata", "jsonb", TC_JSON_OBJECT),
	COL("disposition", "text", TC_JSON_STRING),
	COL("actual_duration_billed", "numeric", TC_JSON_NUMBER),
	{NULL}
};

/* A turn of a call's transcript: its fields, and the call's id. */
static const TcResourceColumn tc_call_transcript_columns[] = {
	COL_FIELD("call_id", "uuid", "^id", TC_JSON_STRING),
	COL_FIELD("turn_id", "integer", "id", TC_JSON_NUMBER),
	COL_FIELD("speaker", "text", "user", TC_JSON_STRING),
	COL("text", "text", TC_JSON_STRING),
	COL("created_at", "timestamptz", TC_JSON_STRING),
	{NULL}
};

/* Only id and status are public: the whole object is there too. */
static const TcResourceColumn tc_campaign_columns[] = {
	COL("id", "uuid", TC_JSON_STRING),
	COL("status", "text", TC_JSON_STRING),
	COL_FIELD("details", "jsonb", "*", TC_JSON_OBJECT),
	{NULL}
};

static const TcResourceColumn tc_carrier_columns[] = {
	COL("id", "uuid", TC_JSON_STRING),
	COL("account_id", "uuid", TC_JSON_STRING),
	COL("voip_carrier_sid", "uuid", TC_JSON_STRING),
	COL("sip_gateway_sid", "uuid", TC_JSON_STRING),
	COL("carrier_name", "text", TC_JSON_STRING),
	COL("trunk_type", "text", TC_JSON_STRING),
	COL("created_at", "timestamptz", TC_JSON_STRING),
	{NULL}
};

/* The values GET /v1/calls accepts in "status" (a filter on call_status). */
static const char *const tc_call_status_values[] = {
	"completed", "no-answer", "failed", "busy", "dispatch_timeout", NULL
};

static const TcResourceFilter tc_call_filters[] = {
	{.field = "call_status", .param = "status", .values = tc_call_status_values},
	{.field = "campaign_id", .param = "campaign_id", .values = NULL},
	{NULL}
};

/*
 * Every resource, ended by an entry whose name is NULL.  Adding one is an
 * entry here (and tests).
 */
const TcResource tc_resources[] = {
	{
		.name = "phone_numbers",
		.scope = "phone_numbers:read",
		.list_path = "/v1/phone-numbers",
		.list_shape = TC_LIST_ENVELOPE,
		.get_path = "/v1/phone-numbers",
		.key_field = "id",
		.columns = tc_phone_number_columns,
	},
	{
		.name = "calls",
		.scope = "calls:read",
		.list_path = "/v1/calls",
		.list_shape = TC_LIST_ENVELOPE,
		.get_path = "/v1/calls",
		.key_field = "id",
		.columns = tc_call_columns,
		.filters = tc_call_filters,
		.order_field = "created_at",
	},
	{
		.name = "call_transcripts",
		.scope = "calls:read",
		.list_path = "/v1/calls",
		.list_shape = TC_LIST_ENVELOPE,
		.get_path = "/v1/calls",
		.key_field = "^id",
		.rows_field = "transcript",
		.columns = tc_call_transcript_columns,
	},
	{
		.name = "campaigns",
		.scope = "campaigns:read",
		.list_path = "/v1/campaigns",
		.list_shape = TC_LIST_ENVELOPE_OR_ARRAY,
		.get_path = "/v1/campaigns",
		.key_field = "id",
		.columns = tc_campaign_columns,
	},
	{
		.name = "carriers",
		.scope = "phone_numbers:read",
		.list_path = "/v1/phone-numbers/carriers",
		.list_shape = TC_LIST_ENVELOPE_OR_ARRAY,
		.get_path = NULL,
		.key_field = "id",
		.columns = tc_carrier_columns,
	},
	{0}
};

/*
 * tc_resource_column
 *		The documented column of resource r that reads JSON field "field"
 *		(as a column's "field" option, or its name, gives it), or NULL.
 */
const TcResourceColumn *
tc_resource_column(const TcResource *r, const char *field)
{
	const TcResourceColumn *col;

	for (col = r->columns; col->name; col++)
	{
		if (strcmp(col->field ? col->field : col->name, field) == 0)
			return col;
	}
	return NULL;
}

/*
 * tc_resource_filter
 *		The API filter on JSON field "field" of resource r, or NULL.
 */
const TcResourceFilter *
tc_resource_filter(const TcResource *r, const char *field)
{
	const TcResourceFilter *f;

	if (r->filters == NULL)
		return NULL;
	for (f = r->filters; f->field; f++)
	{
		if (strcmp(f->field, field) == 0)
			return f;
	}
	return NULL;
}

/*
 * tc_filter_accepts
 *		Does the API accept value for filter f?  A filter without a list of
 *		values takes UUIDs (normalized by the caller).
 */
bool
tc_filter_accepts(const TcResourceFilter *f, const char *value)
{
	const char *const *v;

	if (f->values == NULL)
	{
		char		id[TC_ID_BUFSIZE];

		return tc_api_normalize_id(value, id);
	}
	for (v = f->values; *v; v++)
	{
		if (strcmp(*v, value) == 0)
			return true;
	}
	return false;
}

/*
 * tc_resource_fields
 *		"a, b, c": the documented fields of r, for hints.
 */
char *
tc_resource_fields(const TcResource *r)
{
	StringInfoData buf;
	const TcResourceColumn *col;

	initStringInfo(&buf);
	for (col = r->columns; col->name; col++)
	{
		const char *field = col->field ? col->field : col->name;

		if (strcmp(field, "*") == 0)
			continue;
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", field);
	}
	return buf.data;
}

/*
 * tc_resource_lookup
 *		The resource of that name, or NULL if there is none.
 */
const TcResource *
tc_resource_lookup(const char *name)
{
	const TcResource *r;

	for (r = tc_resources; r->name; r++)
	{
		if (strcmp(r->name, name) == 0)
			return r;
	}
	return NULL;
}

/*
 * tc_resource_get
 *		The resource of that name; an internal error if there is none, since
 *		the option validator accepts only known names.
 */
const TcResource *
tc_resource_get(const char *name)
{
	const TcResource *r = tc_resource_lookup(name);

	if (r == NULL)
		elog(ERROR, "unknown topcalls_fdw resource \"%s\"", name);
	return r;
}

/*
 * tc_resource_names
 *		"a, b, c": every resource's name, for hints.
 */
char *
tc_resource_names(void)
{
	StringInfoData buf;
	const TcResource *r;

	initStringInfo(&buf);
	for (r = tc_resources; r->name; r++)
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", r->name);
	return buf.data;
}
