/*-------------------------------------------------------------------------
 *
 * option.c
 *		  Options of topcalls_fdw: the table of valid options, the validator
 *		  run at CREATE/ALTER time, and the merged options a scan uses.
 *
 * Owns every option name and default.  It must not talk to the network: a
 * value is checked for form here, and used by http.c and api.c.
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/option.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <limits.h>
#include <math.h>

#include "access/reloptions.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "compat.h"
#include "topcalls_fdw.h"

/* Where an option may be given; one bit per catalog. */
#define TC_ON_SERVER		0x01
#define TC_ON_MAPPING		0x02
#define TC_ON_TABLE			0x04
#define TC_ON_COLUMN		0x08

typedef enum TcOptionKind
{
	TC_OPT_URL,
	TC_OPT_POSITIVE_INT,
	TC_OPT_NONNEG_INT,
	TC_OPT_BYTES,
	TC_OPT_NONNEG_REAL,
	TC_OPT_STRING,
	TC_OPT_FILE,
	TC_OPT_SECRET,
	TC_OPT_RESOURCE,
	TC_OPT_BOOL
} TcOptionKind;

typedef struct TcOptionDef
{
	const char *name;
	int			where;
	TcOptionKind kind;
	int			max;			/* for numbers: largest value accepted (for
								 * reals, 0: no limit) */
} TcOptionDef;

static const TcOptionDef tc_options[] = {
	{"base_url", TC_ON_SERVER, TC_OPT_URL, 0},
	{"timeout_ms", TC_ON_SERVER, TC_OPT_POSITIVE_INT, INT_MAX},
	{"connect_timeout_ms", TC_ON_SERVER, TC_OPT_POSITIVE_INT, INT_MAX},
	{"page_size", TC_ON_SERVER, TC_OPT_POSITIVE_INT, 200},
	{"max_concurrency", TC_ON_SERVER, TC_OPT_POSITIVE_INT, 256},
	{"max_retries", TC_ON_SERVER, TC_OPT_NONNEG_INT, 10},
	{"max_response_bytes", TC_ON_SERVER, TC_OPT_BYTES, 0},
	{"ca_file", TC_ON_SERVER, TC_OPT_FILE, 0},
	{"request_cost", TC_ON_SERVER, TC_OPT_NONNEG_REAL, 0},
	{"row_cost", TC_ON_SERVER, TC_OPT_NONNEG_REAL, 0},
	{"rate_limit", TC_ON_SERVER, TC_OPT_NONNEG_REAL, 100000},
	{"rate_burst", TC_ON_SERVER, TC_OPT_POSITIVE_INT, 1000000},
	{"cache_ttl_ms", TC_ON_SERVER, TC_OPT_NONNEG_INT, INT_MAX},
	{"max_idle_connections", TC_ON_SERVER, TC_OPT_POSITIVE_INT, 256},
	{"api_key", TC_ON_MAPPING, TC_OPT_SECRET, 0},
	{"resource", TC_ON_TABLE, TC_OPT_RESOURCE, 0},
	{"rows", TC_ON_TABLE, TC_OPT_NONNEG_REAL, 0},
	{"time_pushdown", TC_ON_TABLE, TC_OPT_BOOL, 0},
	{"field", TC_ON_COLUMN, TC_OPT_STRING, 0},
	{NULL, 0, 0, 0}
};

/* Defaults, also quoted in README.md. */
#define TC_DEFAULT_TIMEOUT_MS			30000
#define TC_DEFAULT_CONNECT_TIMEOUT_MS	10000
#define TC_DEFAULT_PAGE_SIZE			200
#define TC_DEFAULT_MAX_CONCURRENCY		16
#define TC_DEFAULT_MAX_RETRIES			3
#define TC_DEFAULT_MAX_RESPONSE_BYTES	(16 * 1024 * 1024)
#define TC_DEFAULT_REQUEST_COST			100.0
#define TC_DEFAULT_ROW_COST				0.1
#define TC_DEFAULT_MAX_IDLE_CONNECTIONS	2

PG_FUNCTION_INFO_V1(topcalls_fdw_validator);

static bool tc_inval_registered = false;

/* Which TC_ON_* bit the validator's catalog OID stands for. */
static int
tc_catalog_bit(Oid catalog)
{
	switch (catalog)
	{
		case ForeignServerRelationId:
			return TC_ON_SERVER;
		case UserMappingRelationId:
			return TC_ON_MAPPING;
		case ForeignTableRelationId:
			return TC_ON_TABLE;
		case AttributeRelationId:
			return TC_ON_COLUMN;
		default:
			return 0;
	}
}

static const TcOptionDef *
tc_find_option(const char *name)
{
	const TcOptionDef *def;

	for (def = tc_options; def->name; def++)
	{
		if (strcmp(def->name, name) == 0)
			return def;
	}
	return NULL;
}

/* "a, b, c": the options valid on one catalog, for the hint. */
static char *
tc_valid_option_list(int where)
{
	StringInfoData buf;
	const TcOptionDef *def;

	initStringInfo(&buf);
	for (def = tc_options; def->name; def++)
	{
		if ((def->where & where) == 0)
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, def->name);
	}
	return buf.len > 0 ? buf.data : pstrdup("(none)");
}

/*
 * Is the host at the start of "rest" (host[:port][/path]) a loopback one?
 * Only the canonical spellings count: inet_pton refuses "0127.0.0.1" and
 * "127.-0.0.1", which libcurl would read as another address or a name.
 */
static bool
tc_host_is_loopback(const char *rest)
{
	size_t		len;
	char		host[256];
	struct in_addr addr;

	if (rest[0] == '[')
		return strncmp(rest, "[::1]", 5) == 0 &&
			(rest[5] == '\0' || rest[5] == ':' || rest[5] == '/');
	len = strcspn(rest, ":/");
	if (len == 0 || len >= sizeof(host))
		return false;
	memcpy(host, rest, len);
	host[len] = '\0';
	if (pg_strcasecmp(host, "localhost") == 0)
		return true;
	return inet_pton(AF_INET, host, &addr) == 1 &&
		(ntohl(addr.s_addr) >> 24) == 127;
}

/*
 * Check that a base_url is an absolute http or https URL with a host, and
 * nothing after the authority but an optional path: query strings and
 * fragments would corrupt the URLs api.c builds from it.
 */
static void
tc_check_url(const char *name, const char *value)
{
	const char *rest;
	const char *p;

	if (pg_strncasecmp(value, "https://", 8) == 0)
		rest = value + 8;
	else if (pg_strncasecmp(value, "http://", 7) == 0)
		rest = value + 7;
	else
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", name, value),
				 errdetail("The URL must start with \"http://\" or \"https://\".")));

	if (*rest == '\0' || *rest == '/' || *rest == ':')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", name, value),
				 errdetail("The URL has no host name.")));

	/*
	 * Plain http would send the API key in clear: allow it only to this
	 * machine, where the stand-in API of the tests and local proxies live.
	 */
	if (pg_strncasecmp(value, "http://", 7) == 0 && !tc_host_is_loopback(rest))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", name, value),
				 errdetail("Plain http is only allowed to a loopback host (localhost, 127.0.0.0/8 or [::1]), since the API key would travel in clear."),
				 errhint("Use an https:// URL.")));

	for (p = rest; *p; p++)
	{
		if (*p == '?' || *p == '#' || *p == '@' || isspace((unsigned char) *p) ||
			(unsigned char) *p < 0x20)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"%s\": \"%s\"", name, value),
					 errdetail("The URL may not contain credentials, a query, a fragment, spaces or control characters.")));
	}
}

/* A plain decimal integer in [min, def->max]; "1.5" or "10ms" is refused. */
static int
tc_parse_int(const TcOptionDef *def, const char *value, int min)
{
	char	   *end;
	long		result;

	errno = 0;
	result = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || result < min ||
		result > def->max)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->name, value),
				 errdetail("The value must be an integer from %d to %d.", min, def->max)));
	return (int) result;
}

static int64
tc_parse_bytes(const TcOptionDef *def, const char *value)
{
	char	   *end;
	long long	result;

	errno = 0;
	result = strtoll(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || result < 1024 ||
		result > (int64) MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->name, value),
				 errdetail("The value must be a number of bytes from 1024 to %lld.",
						   (long long) MaxAllocSize)));
	return result;
}

static double
tc_parse_real(const TcOptionDef *def, const char *value)
{
	double		result;

	if (!parse_real(value, &result, 0, NULL) || result < 0 || isinf(result) ||
		isnan(result))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->name, value),
				 errdetail("The value must be a non-negative number.")));
	if (def->max > 0 && result > def->max)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->name, value),
				 errdetail("The value must be a number from 0 to %d.", def->max)));
	return result;
}

static bool
tc_parse_bool(const TcOptionDef *def, const char *value)
{
	bool		result;

	if (!parse_bool(value, &result))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->name, value),
				 errdetail("The value must be a Boolean: true or false.")));
	return result;
}

static void
tc_check_resource(const char *name, const char *value)
{
	if (tc_resource_lookup(value) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", name, value),
				 errhint("Valid resources are: %s.", tc_resource_names())));
}

/* Check one option's value; used by the validator. */
static void
tc_check_value(const TcOptionDef *def, const char *value)
{
	switch (def->kind)
	{
		case TC_OPT_URL:
			tc_check_url(def->name, value);
			break;
		case TC_OPT_POSITIVE_INT:
			(void) tc_parse_int(def, value, 1);
			break;
		case TC_OPT_NONNEG_INT:
			(void) tc_parse_int(def, value, 0);
			break;
		case TC_OPT_BYTES:
			(void) tc_parse_bytes(def, value);
			break;
		case TC_OPT_NONNEG_REAL:
			(void) tc_parse_real(def, value);
			break;
		case TC_OPT_RESOURCE:
			tc_check_resource(def->name, value);
			break;
		case TC_OPT_BOOL:
			(void) tc_parse_bool(def, value);
			break;
		case TC_OPT_SECRET:

			/*
			 * The key goes into an HTTP header, where a line break would
			 * smuggle in another header.  Never quote it back.
			 */
			{
				const char *p;

				for (p = value; *p; p++)
				{
					if ((unsigned char) *p < 0x20 || *p == 0x7f)
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"%s\": the value contains a control character",
										def->name)));
				}
			}
			/* FALLTHROUGH */
		case TC_OPT_FILE:
		case TC_OPT_STRING:
			if (value[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"%s\": the value is empty",
								def->name)));
			break;
	}
}

/*
 * An option naming a file the backend opens lets its setter probe the
 * server's files through the errors it gets back: the same rule as
 * file_fdw's "filename".
 */
static void
tc_check_file_privilege(const TcOptionDef *def)
{
	Oid			reader = TC_ROLE_READ_SERVER_FILES;

	if (!superuser() && !has_privs_of_role(GetUserId(), reader))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set option \"%s\"", def->name),
				 errdetail("Only superusers and roles with the privileges of pg_read_server_files may set it, since it names a file the server reads.")));
}

/*
 * topcalls_fdw_validator
 *		Validate the options of a CREATE or ALTER of this wrapper's objects:
 *		each must be known on that kind of object and well formed.
 */
Datum
topcalls_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	int			where = tc_catalog_bit(catalog);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);
		const TcOptionDef *def = tc_find_option(d->defname);

		if (def == NULL || (def->where & where) == 0)
		{
			if (def != NULL && def->where == TC_ON_MAPPING)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("option \"%s\" is only allowed on a user mapping",
								d->defname),
						 errhint("Use CREATE USER MAPPING ... OPTIONS (%s '...') so that other users cannot read it.",
								 d->defname)));
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", d->defname),
					 where ? errhint("Valid options in this context are: %s.",
									 tc_valid_option_list(where))
					 : errhint("There are no valid options in this context.")));
		}
		tc_check_value(def, defGetString(d));
		if (def->kind == TC_OPT_FILE)
			tc_check_file_privilege(def);
	}

	PG_RETURN_VOID();
}

/*
 * tc_get_options
 *		Merge the options of the server, the current user's mapping and the
 * table into *opts.  Values were checked by the validator, so parsing here
 * only converts them.
 */
void
tc_get_options(Oid foreigntableid, Oid userid, TcOptions *opts)
{
	ForeignTable *table = GetForeignTable(foreigntableid);
	ForeignServer *server = GetForeignServer(table->serverid);
	UserMapping *mapping = NULL;
	List	   *options = NIL;
	ListCell   *lc;

	memset(opts, 0, sizeof(*opts));
	opts->userid = userid;
	opts->serverid = server->serverid;
	opts->servername = server->servername;
	opts->base_url = TC_DEFAULT_BASE_URL;
	opts->timeout_ms = TC_DEFAULT_TIMEOUT_MS;
	opts->connect_timeout_ms = TC_DEFAULT_CONNECT_TIMEOUT_MS;
	opts->page_size = TC_DEFAULT_PAGE_SIZE;
	opts->max_concurrency = TC_DEFAULT_MAX_CONCURRENCY;
	opts->max_retries = TC_DEFAULT_MAX_RETRIES;
	opts->max_response_bytes = TC_DEFAULT_MAX_RESPONSE_BYTES;
	opts->request_cost = TC_DEFAULT_REQUEST_COST;
	opts->row_cost = TC_DEFAULT_ROW_COST;
	opts->max_idle_connections = TC_DEFAULT_MAX_IDLE_CONNECTIONS;
	opts->relid = foreigntableid;
	opts->resource = TC_DEFAULT_RESOURCE;
	opts->rows = -1;
	opts->time_pushdown = true;

	/*
	 * A missing mapping is reported only when a request is about to be
	 * made (tc_require_api_key), so that plain EXPLAIN and planning work
	 * without one.  Look it up the way GetUserMapping does (the user's own,
	 * then PUBLIC's) but without raising an error.
	 */
	if (SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid),
							  ObjectIdGetDatum(server->serverid)) ||
		SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							  ObjectIdGetDatum(server->serverid)))
		mapping = GetUserMapping(userid, server->serverid);

	options = list_concat(options, server->options);
	if (mapping)
	{
		opts->umid = mapping->umid;
		options = list_concat(options, mapping->options);
	}
	options = list_concat(options, table->options);

	foreach(lc, options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);
		const TcOptionDef *def = tc_find_option(d->defname);
		const char *value = defGetString(d);

		if (def == NULL)
			continue;
		if (strcmp(def->name, "base_url") == 0)
		{
			char	   *url = pstrdup(value);
			size_t		len = strlen(url);

			while (len > 0 && url[len - 1] == '/')
				url[--len] = '\0';
			opts->base_url = url;
		}
		else if (strcmp(def->name, "timeout_ms") == 0)
			opts->timeout_ms = tc_parse_int(def, value, 1);
		else if (strcmp(def->name, "connect_timeout_ms") == 0)
			opts->connect_timeout_ms = tc_parse_int(def, value, 1);
		else if (strcmp(def->name, "page_size") == 0)
			opts->page_size = tc_parse_int(def, value, 1);
		else if (strcmp(def->name, "max_concurrency") == 0)
			opts->max_concurrency = tc_parse_int(def, value, 1);
		else if (strcmp(def->name, "max_retries") == 0)
			opts->max_retries = tc_parse_int(def, value, 0);
		else if (strcmp(def->name, "max_response_bytes") == 0)
			opts->max_response_bytes = tc_parse_bytes(def, value);
		else if (strcmp(def->name, "ca_file") == 0)
			opts->ca_file = pstrdup(value);
		else if (strcmp(def->name, "request_cost") == 0)
			opts->request_cost = tc_parse_real(def, value);
		else if (strcmp(def->name, "row_cost") == 0)
			opts->row_cost = tc_parse_real(def, value);
		else if (strcmp(def->name, "rate_limit") == 0)
			opts->rate_limit = tc_parse_real(def, value);
		else if (strcmp(def->name, "rate_burst") == 0)
			opts->rate_burst = tc_parse_int(def, value, 1);
		else if (strcmp(def->name, "cache_ttl_ms") == 0)
			opts->cache_ttl_ms = tc_parse_int(def, value, 0);
		else if (strcmp(def->name, "max_idle_connections") == 0)
			opts->max_idle_connections = tc_parse_int(def, value, 1);
		else if (strcmp(def->name, "api_key") == 0)
			opts->api_key = pstrdup(value);
		else if (strcmp(def->name, "resource") == 0)
			opts->resource = pstrdup(value);
		else if (strcmp(def->name, "rows") == 0)
			opts->rows = tc_parse_real(def, value);
		else if (strcmp(def->name, "time_pushdown") == 0)
			opts->time_pushdown = tc_parse_bool(def, value);
	}

	/*
	 * The key's identity for the limiter, the statistics and the cache: its
	 * SHA-256, of which the view shows the start.  The key itself goes
	 * nowhere but into the Authorization header.
	 */
	if (opts->api_key != NULL)
	{
		static const char hex[] = "0123456789abcdef";
		int			i;

		if (!tc_sha256(opts->api_key, strlen(opts->api_key), opts->key_digest))
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Could not compute the fingerprint of the API key.")));
		for (i = 0; i < TC_FINGERPRINT_LEN / 2; i++)
		{
			opts->key_fingerprint[2 * i] = hex[opts->key_digest[i] >> 4];
			opts->key_fingerprint[2 * i + 1] = hex[opts->key_digest[i] & 0xf];
		}
		opts->key_fingerprint[TC_FINGERPRINT_LEN] = '\0';
	}
}

/*
 * tc_require_api_key
 *		Raise the ERROR of a missing user mapping or api_key; called before
 *		the first request of a scan, so that planning and EXPLAIN need none.
 */
void
tc_require_api_key(const TcOptions *opts)
{
	/* the same SQLSTATE as core's GetUserMapping */
	if (!OidIsValid(opts->umid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("user mapping not found for user \"%s\", server \"%s\"",
						GetUserNameFromId(opts->userid, false), opts->servername),
				 errhint("Create one with CREATE USER MAPPING FOR %s SERVER %s OPTIONS (api_key '...').",
						 quote_identifier(GetUserNameFromId(opts->userid, false)),
						 quote_identifier(opts->servername))));
	if (opts->api_key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("user mapping for user \"%s\" and server \"%s\" has no api_key",
						GetUserNameFromId(opts->userid, false), opts->servername),
				 errhint("Add it with ALTER USER MAPPING FOR %s SERVER %s OPTIONS (ADD api_key '...').",
						 quote_identifier(GetUserNameFromId(opts->userid, false)),
						 quote_identifier(opts->servername))));
}

/*
 * tc_column_field
 *		The JSON field a column reads: its "field" option, or NULL for the
 *		column's own name.
 */
char *
tc_column_field(Oid relid, AttrNumber attnum)
{
	List	   *options = GetForeignColumnOptions(relid, attnum);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (strcmp(d->defname, "field") == 0)
			return defGetString(d);
	}
	return NULL;
}

/*
 * tc_effective_field
 *		The JSON field a column reads: its "field" option; else, when its name
 *		is one of the resource's documented columns, that column's field (a
 *		call_transcripts column "speaker" reads the turn's "user"); else its
 *		name, which the planner refuses as a likely typo.
 */
const char *
tc_effective_field(const TcResource *resource, Oid relid, Form_pg_attribute att)
{
	char	   *field = tc_column_field(relid, att->attnum);
	const TcResourceColumn *col;

	if (field != NULL)
		return field;
	for (col = resource->columns; col->name; col++)
	{
		if (strcmp(col->name, NameStr(att->attname)) == 0)
			return col->field ? col->field : col->name;
	}
	return NameStr(att->attname);
}

/*
 * A changed server or user mapping (a new base_url, ca_file or key) must not
 * keep using connections made for the old one: drop them all.  Changes are
 * rare, so finer bookkeeping is not worth it.
 */
static void
tc_options_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	tc_http_forget_connections();
}

/*
 * tc_register_invalidation
 *		Register tc_options_changed for changes of servers and user mappings;
 *		once per backend.
 */
void
tc_register_invalidation(void)
{
	if (tc_inval_registered)
		return;
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID, tc_options_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(USERMAPPINGOID, tc_options_changed, (Datum) 0);
	tc_inval_registered = true;
}
