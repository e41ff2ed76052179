/*-------------------------------------------------------------------------
 *
 * resource.c
 *		  The TopCalls collections a foreign table can read, declared once.
 *
 * Each entry says what the rest of the extension needs to know of one
 * resource: the name the "resource" table option takes (and IMPORT FOREIGN
 * SCHEMA gives its table), the API path, the scope a key needs to read it,
 * and its columns.  Option checking, URLs, error hints and IMPORT FOREIGN
 * SCHEMA all read this table; none of them has a list of its own.
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

static const TcResourceColumn tc_phone_number_columns[] = {
	{"id", "uuid"},
	{"account_id", "uuid"},
	{"number", "text"},
	{"source", "text"},
	{"status", "text"},
	{"phone_number_sid", "uuid"},
	{"voip_carrier_sid", "uuid"},
	{"carrier_name", "text"},
	{"label", "text"},
	{"error_message", "text"},
	{"created_by_user_id", "uuid"},
	{"created_at", "timestamptz"},
	{"updated_at", "timestamptz"},
	{NULL, NULL}
};

/* Ended by an entry whose name is NULL. */
const TcResource tc_resources[] = {
	{
		.name = "phone_numbers",
		.path = "/v1/phone-numbers",
		.scope = "phone_numbers:read",
		.columns = tc_phone_number_columns,
	},
	{0}
};

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
