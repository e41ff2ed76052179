/*-------------------------------------------------------------------------
 *
 * json.c
 *		  The JSON parser: strict RFC 8259 checking of an answer's text, and
 *		  its tape, a flat array of nodes that the readers walk.
 *
 * Owns the JSON grammar, the limits one answer may reach (depth, values,
 * objects and arrays), and reading what was parsed: an object's field, the
 * members of an object or array, a string's unescaped value, a value's own
 * text.  One pass over the text checks it and writes the tape: one node
 * for each value and each object key, in document order, each pointing at
 * its bytes in the text, which stays as it came.  Nothing is copied or
 * unescaped until a reader asks for that value.  So a scan that needs three
 * fields of a 133 kB page of calls pays for one pass and three fields a
 * row, not for a tree of every value, as a general-purpose parser (json-c,
 * which this project used before) builds: a full tree of each page cost
 * four times the time to read the page at all (README, Performance).
 *
 * Numbers are kept as written: a column's input function reads the digits
 * themselves, so a numeric column gets 123456789012345678901234567890
 * exactly, and an int8 column refuses it with its own error.
 *
 * Everything is palloc'd, nothing is malloc'ed: the document in the memory
 * context current when tc_json_parse is called, the text's copy and the
 * tape there too, or in the caller's TcJsonBuffer; an ERROR anywhere frees
 * them with their context.  What this file must not do: raise errors about the text
 * (it says what is wrong, and the caller names the request in its message),
 * or know resources, columns or HTTP.
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "mb/pg_wchar.h"
#include "port/pg_bitutils.h"

#include "topcalls_fdw.h"

/*
 * Bounds on what one answer may hold, so that a few MB of "[{},{},...]"
 * (well within max_response_bytes) cannot cost much more memory than its
 * text: at most 2 * TC_JSON_MAX_VALUES nodes (the values and their keys) of
 * 20 bytes.  A page of 200 calls holds some 12 000 values and 1 400
 * objects and arrays.
 */
#define TC_JSON_MAX_VALUES		1000000
#define TC_JSON_MAX_CONTAINERS	50000

/* The most nodes allocated before parsing (a few pages of calls' worth). */
#define TC_JSON_INITIAL_NODES	65536

/* The parser's state: where it is in the text, and the tape so far. */
typedef struct TcJsonParser
{
	const char *text;
	const char *p;
	const char *end;
	TcJsonNode *nodes;
	uint32		nnodes;
	uint32		cap;
	int			depth;
	int64		values;			/* values seen, containers included */
	int64		containers;		/* objects and arrays seen */
	const char *error;			/* the first problem found (untranslated) */
} TcJsonParser;

/*
 * The bytes a string's scan stops at: its closing quote, an escape, and the
 * control characters JSON forbids raw in strings.
 */
static const bool tc_json_string_stop[256] = {
	[0x00] = true,[0x01] = true,[0x02] = true,[0x03] = true,
	[0x04] = true,[0x05] = true,[0x06] = true,[0x07] = true,
	[0x08] = true,[0x09] = true,[0x0a] = true,[0x0b] = true,
	[0x0c] = true,[0x0d] = true,[0x0e] = true,[0x0f] = true,
	[0x10] = true,[0x11] = true,[0x12] = true,[0x13] = true,
	[0x14] = true,[0x15] = true,[0x16] = true,[0x17] = true,
	[0x18] = true,[0x19] = true,[0x1a] = true,[0x1b] = true,
	[0x1c] = true,[0x1d] = true,[0x1e] = true,[0x1f] = true,
	['"'] = true,['\\'] = true,
};

/*
 * Does the word w hold a stop byte: a quote, a backslash or a byte below
 * 0x20?  The classic test for a zero byte, (x - 0x01..) & ~x & 0x80..,
 * applied to w XOR the quote, w XOR the backslash, and w with its low five
 * bits cleared (zero exactly for the bytes below 0x20).  The byte-wise loop
 * then finds which byte it is.
 */
#define TC_BYTES(b)		((uint64) 0x0101010101010101 * (b))

static inline bool
tc_json_has_stop(uint64 w)
{
	uint64		q = w ^ TC_BYTES('"');
	uint64		b = w ^ TC_BYTES('\\');
	uint64		c = w & TC_BYTES(0xE0);

	return ((((q - TC_BYTES(1)) & ~q) |
			 ((b - TC_BYTES(1)) & ~b) |
			 ((c - TC_BYTES(1)) & ~c)) & TC_BYTES(0x80)) != 0;
}

static bool tc_json_value(TcJsonParser *ps);

static inline void
tc_json_ws(TcJsonParser *ps)
{
	while (ps->p < ps->end &&
		   (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
		ps->p++;
}

static bool
tc_json_fail(TcJsonParser *ps, const char *error)
{
	if (ps->error == NULL)
		ps->error = error;
	return false;
}

/* A new node of the given kind starting at start; returns its index. */
static inline uint32
tc_json_node(TcJsonParser *ps, TcJsonKind kind, const char *start)
{
	TcJsonNode *node;

	if (ps->nnodes >= ps->cap)
	{
		ps->cap *= 2;
		ps->nodes = repalloc(ps->nodes, sizeof(TcJsonNode) * ps->cap);
	}
	node = &ps->nodes[ps->nnodes];
	node->start = (uint32) (start - ps->text);
	node->len = 0;
	node->count = 0;
	node->kind = (uint8) kind;
	node->escaped = false;
	return ps->nnodes++;
}

/* The value of a hex digit, or -1. */
static inline int
tc_json_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The four hex digits at p (which has at least 4 bytes) as a number, or -1. */
static int
tc_json_hex4(const char *p)
{
	int			value = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		int			d = tc_json_hexval((unsigned char) p[i]);

		if (d < 0)
			return -1;
		value = value * 16 + d;
	}
	return value;
}

/*
 * Check the escape at ps->p (just after the backslash) and step over it.  A
 * \u escape of a UTF-16 surrogate must be a high one followed by a low one:
 * an unpaired surrogate is no character at all.
 */
static bool
tc_json_escape(TcJsonParser *ps)
{
	int			cp;
	int			low;

	if (ps->p >= ps->end)
		return tc_json_fail(ps, gettext_noop("A string in the body is not terminated."));
	switch (*ps->p)
	{
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			ps->p++;
			return true;
		case 'u':
			break;
		default:
			return tc_json_fail(ps, gettext_noop("A string in the body contains an invalid escape."));
	}
	ps->p++;
	if (ps->end - ps->p < 4 || (cp = tc_json_hex4(ps->p)) < 0)
		return tc_json_fail(ps, gettext_noop("A \\u escape in the body is not followed by four hex digits."));
	ps->p += 4;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return tc_json_fail(ps, gettext_noop("A string in the body contains an unpaired UTF-16 surrogate escape."));
	if (cp < 0xD800 || cp > 0xDBFF)
		return true;
	if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
		return tc_json_fail(ps, gettext_noop("A string in the body contains an unpaired UTF-16 surrogate escape."));
	ps->p += 2;
	if (ps->end - ps->p < 4 || (low = tc_json_hex4(ps->p)) < 0)
		return tc_json_fail(ps, gettext_noop("A \\u escape in the body is not followed by four hex digits."));
	ps->p += 4;
	if (low < 0xDC00 || low > 0xDFFF)
		return tc_json_fail(ps, gettext_noop("A string in the body contains an unpaired UTF-16 surrogate escape."));
	return true;
}

/* A string (a value or a key) at ps->p, which is its opening quote. */
static bool
tc_json_string(TcJsonParser *ps)
{
	uint32		n = tc_json_node(ps, TC_JSON_KIND_STRING, ps->p + 1);
	const char *p = ps->p + 1;
	const char *end = ps->end;
	bool		escaped = false;

	for (;;)
	{
		unsigned char c;

#ifdef __SSE2__

		/*
		 * Sixteen bytes at a time where SSE2 is there (every x86-64): a stop
		 * byte is a quote, a backslash, or one whose unsigned minimum with
		 * 0x1F is itself.  The loops below then find it at once.
		 */
		while (end - p >= 16)
		{
			__m128i		v = _mm_loadu_si128((const __m128i *) p);
			__m128i		stop;
			int			mask;

			stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
											 _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
								_mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v));
			mask = _mm_movemask_epi8(stop);
			if (mask != 0)
			{
				p += pg_rightmost_one_pos32((uint32) mask);
				break;
			}
			p += 16;
		}
#endif
		/* eight bytes at a time while none of them is a stop byte */
		while (end - p >= 8)
		{
			uint64		w;

			memcpy(&w, p, 8);
			if (tc_json_has_stop(w))
				break;
			p += 8;
		}
		while (p < end && !tc_json_string_stop[(unsigned char) *p])
			p++;
		if (p >= end)
			return tc_json_fail(ps, gettext_noop("A string in the body is not terminated."));
		c = (unsigned char) *p;
		if (c == '"')
			break;
		if (c < 0x20)
			return tc_json_fail(ps, gettext_noop("A string in the body contains a raw control character."));
		/* a backslash */
		escaped = true;
		ps->p = p + 1;
		if (!tc_json_escape(ps))
			return false;
		p = ps->p;
	}
	ps->nodes[n].len = (uint32) (p - (ps->text + ps->nodes[n].start));
	ps->nodes[n].escaped = escaped;
	ps->nodes[n].after = n + 1;
	ps->p = p + 1;				/* past the closing quote */
	return true;
}

static inline bool
tc_json_digits(TcJsonParser *ps)
{
	const char *start = ps->p;

	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return ps->p > start;
}

/* A number, kept as written (see the file's header). */
static bool
tc_json_number(TcJsonParser *ps)
{
	uint32		n = tc_json_node(ps, TC_JSON_KIND_NUMBER, ps->p);

	if (*ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0')
		ps->p++;
	else if (!tc_json_digits(ps))
		return tc_json_fail(ps, gettext_noop("A number in the body is malformed."));
	if (ps->p < ps->end && *ps->p == '.')
	{
		ps->p++;
		if (!tc_json_digits(ps))
			return tc_json_fail(ps, gettext_noop("A number in the body is malformed."));
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E'))
	{
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!tc_json_digits(ps))
			return tc_json_fail(ps, gettext_noop("A number in the body is malformed."));
	}
	ps->nodes[n].len = (uint32) (ps->p - (ps->text + ps->nodes[n].start));
	ps->nodes[n].after = n + 1;
	return true;
}

/* true, false or null. */
static bool
tc_json_literal(TcJsonParser *ps, const char *word, TcJsonKind kind)
{
	size_t		len = strlen(word);
	uint32		n;

	if ((size_t) (ps->end - ps->p) < len || memcmp(ps->p, word, len) != 0)
		return tc_json_fail(ps, gettext_noop("The body contains an unexpected character."));
	n = tc_json_node(ps, kind, ps->p);
	ps->nodes[n].len = (uint32) len;
	ps->nodes[n].after = n + 1;
	ps->p += len;
	return true;
}

/* An object or array: open, members separated by commas, close. */
static bool
tc_json_container(TcJsonParser *ps, bool is_object)
{
	char		close = is_object ? '}' : ']';
	uint32		n;
	uint32		count = 0;

	if (++ps->depth > TC_JSON_MAX_DEPTH)
		return tc_json_fail(ps, gettext_noop("The body's nesting is too deep."));
	if (++ps->containers > TC_JSON_MAX_CONTAINERS)
		return tc_json_fail(ps, gettext_noop("The body holds too many objects and arrays."));
	n = tc_json_node(ps, is_object ? TC_JSON_KIND_OBJECT : TC_JSON_KIND_ARRAY, ps->p);
	ps->p++;
	tc_json_ws(ps);
	if (ps->p < ps->end && *ps->p == close)
		ps->p++;
	else
	{
		for (;;)
		{
			tc_json_ws(ps);
			if (is_object)
			{
				if (ps->p >= ps->end || *ps->p != '"')
					return tc_json_fail(ps, gettext_noop("An object key in the body is not a double-quoted string."));
				if (!tc_json_string(ps))
					return false;
				tc_json_ws(ps);
				if (ps->p >= ps->end || *ps->p != ':')
					return tc_json_fail(ps, gettext_noop("An object key in the body is not followed by a colon."));
				ps->p++;
			}
			if (!tc_json_value(ps))
				return false;
			count++;
			tc_json_ws(ps);
			if (ps->p < ps->end && *ps->p == ',')
			{
				ps->p++;
				continue;
			}
			if (ps->p < ps->end && *ps->p == close)
			{
				ps->p++;
				break;
			}
			return tc_json_fail(ps, ps->p >= ps->end ?
								gettext_noop("The JSON text ends too early.") :
								gettext_noop("The body contains an unexpected character."));
		}
	}
	ps->depth--;
	ps->nodes[n].len = (uint32) (ps->p - (ps->text + ps->nodes[n].start));
	ps->nodes[n].count = count;
	ps->nodes[n].after = ps->nnodes;
	return true;
}

static bool
tc_json_value(TcJsonParser *ps)
{
	if (++ps->values > TC_JSON_MAX_VALUES)
		return tc_json_fail(ps, gettext_noop("The body holds too many values."));
	tc_json_ws(ps);
	if (ps->p >= ps->end)
		return tc_json_fail(ps, gettext_noop("The JSON text ends too early."));
	switch (*ps->p)
	{
		case '{':
			return tc_json_container(ps, true);
		case '[':
			return tc_json_container(ps, false);
		case '"':
			return tc_json_string(ps);
		case 't':
			return tc_json_literal(ps, "true", TC_JSON_KIND_TRUE);
		case 'f':
			return tc_json_literal(ps, "false", TC_JSON_KIND_FALSE);
		case 'n':
			return tc_json_literal(ps, "null", TC_JSON_KIND_NULL);
		default:
			if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
				return tc_json_number(ps);
			return tc_json_fail(ps, gettext_noop("The body contains an unexpected character."));
	}
}

/*
 * tc_json_parse
 *		Parse text strictly: RFC 8259 (no comments, single quotes, NaN or
 *		"1."), valid UTF-8, no NUL byte, nesting and size within the bounds
 *		above, nothing but white space around the value.
 *
 * Without a buffer, the document refers to text (the caller keeps it as
 * long as the document) and its tape is palloc'd in the current memory
 * context.  With one, text is copied into the buffer and the tape written
 * there too, reusing (and growing) what the buffer has: a list parses page
 * after page of some 130 kB each, and fresh allocations of that size are
 * fresh pages from the kernel each time.  The document is then valid until
 * the buffer's next use.
 *
 * Returns the parsed document, or NULL with *error set to an untranslated
 * sentence that says what is wrong.  Raises no ERROR of its own (only
 * palloc's out of memory).
 */
TcJson *
tc_json_parse(const char *text, size_t len, TcJsonBuffer *buffer,
			  const char **error)
{
	TcJsonParser ps;
	TcJson	   *doc;
	uint32		want;

	*error = NULL;
	if (len == 0)
	{
		*error = gettext_noop("The body is empty.");
		return NULL;
	}
	if (len >= INT_MAX)
	{
		*error = gettext_noop("The body is too large to parse.");
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL)
	{
		*error = gettext_noop("The body contains a NUL byte.");
		return NULL;
	}

	/*
	 * About one node per 13 bytes in the API's answers, and no more than a
	 * list page's worth up front: a larger text grows the tape as it goes.
	 */
	want = (uint32) Min(len / 12 + 16, TC_JSON_INITIAL_NODES);
	if (buffer == NULL)
	{
		ps.nodes = palloc(sizeof(TcJsonNode) * want);
		ps.cap = want;
	}
	else
	{
		if (buffer->text_cap < len + 1)
		{
			if (buffer->text != NULL)
				pfree(buffer->text);
			buffer->text = MemoryContextAlloc(buffer->cxt, len + 1);
			buffer->text_cap = len + 1;
		}
		memcpy(buffer->text, text, len);
		buffer->text[len] = '\0';
		text = buffer->text;
		if (buffer->nodes_cap < want)
		{
			if (buffer->nodes != NULL)
				pfree(buffer->nodes);
			buffer->nodes = MemoryContextAlloc(buffer->cxt,
											   sizeof(TcJsonNode) * want);
			buffer->nodes_cap = want;
		}
		ps.nodes = buffer->nodes;
		ps.cap = buffer->nodes_cap;
	}
	ps.text = text;
	ps.p = text;
	ps.end = text + len;
	ps.nnodes = 0;
	ps.depth = 0;
	ps.values = 0;
	ps.containers = 0;
	ps.error = NULL;
	if (tc_json_value(&ps))
	{
		tc_json_ws(&ps);
		if (ps.p != ps.end)
			ps.error = gettext_noop("There is more text after the JSON value.");
	}

	/*
	 * PostgreSQL's own UTF-8 check, on the whole text: it refuses overlong
	 * forms, encoded surrogates and code points past U+10FFFF, which a
	 * simpler check would let through.
	 */
	if (ps.error == NULL && !pg_verify_mbstr(PG_UTF8, text, (int) len, true))
		ps.error = gettext_noop("The body is not valid UTF-8.");

	/* the tape may have grown (repalloc): the buffer keeps what it is now */
	if (buffer != NULL)
	{
		buffer->nodes = ps.nodes;
		buffer->nodes_cap = ps.cap;
	}
	if (ps.error != NULL)
	{
		if (buffer == NULL)
			pfree(ps.nodes);
		*error = ps.error;
		return NULL;
	}

	doc = palloc(sizeof(TcJson));
	doc->text = text;
	doc->len = len;
	doc->nodes = ps.nodes;
	doc->nnodes = ps.nnodes;
	return doc;
}

/*
 * tc_json_kind_name
 *		A JSON type's name, for messages ("object", "number", ...).
 */
const char *
tc_json_kind_name(TcJsonKind kind)
{
	switch (kind)
	{
		case TC_JSON_KIND_NULL:
			return "null";
		case TC_JSON_KIND_FALSE:
		case TC_JSON_KIND_TRUE:
			return "boolean";
		case TC_JSON_KIND_NUMBER:
			return "number";
		case TC_JSON_KIND_STRING:
			return "string";
		case TC_JSON_KIND_ARRAY:
			return "array";
		case TC_JSON_KIND_OBJECT:
			return "object";
	}
	return "?";
}

/*
 * Decode the escaped string contents [p, p + len) into out (room for len
 * bytes: decoding never lengthens); returns the bytes written.  The text
 * was checked by the parser, so every escape is complete and valid.
 */
static size_t
tc_json_unescape(const char *p, size_t len, char *out)
{
	const char *end = p + len;
	char	   *o = out;

	while (p < end)
	{
		const char *bs = memchr(p, '\\', end - p);
		pg_wchar	cp;

		if (bs == NULL)
			bs = end;
		memcpy(o, p, bs - p);
		o += bs - p;
		p = bs;
		if (p >= end)
			break;
		p++;					/* the backslash */
		switch (*p++)
		{
			case 'b':
				*o++ = '\b';
				continue;
			case 'f':
				*o++ = '\f';
				continue;
			case 'n':
				*o++ = '\n';
				continue;
			case 'r':
				*o++ = '\r';
				continue;
			case 't':
				*o++ = '\t';
				continue;
			case 'u':
				break;
			default:			/* " \ / */
				*o++ = p[-1];
				continue;
		}
		cp = (pg_wchar) tc_json_hex4(p);
		p += 4;
		if (cp >= 0xD800 && cp <= 0xDBFF)
		{
			/* a surrogate pair: the parser saw the low half follow */
			cp = 0x10000 + ((cp - 0xD800) << 10) + (tc_json_hex4(p + 2) - 0xDC00);
			p += 6;
		}
		unicode_to_utf8(cp, (unsigned char *) o);
		o += pg_utf_mblen((unsigned char *) o);
	}
	return o - out;
}

/*
 * tc_json_text
 *		The text an input function takes for value v: a string's contents,
 *		unescaped; anything else as its JSON text, as the API wrote it.
 *		Palloc'd in the current context and NUL-terminated; *len is its
 *		length, which may include a NUL (from "\u0000") that the caller
 *		must not let through.
 */
char *
tc_json_text(const TcJson *doc, int v, size_t *len)
{
	const TcJsonNode *node = &doc->nodes[v];
	const char *src = doc->text + node->start;
	char	   *out = palloc(node->len + 1);

	if (node->kind == TC_JSON_KIND_STRING && node->escaped)
		*len = tc_json_unescape(src, node->len, out);
	else
	{
		memcpy(out, src, node->len);
		*len = node->len;
	}
	out[*len] = '\0';
	return out;
}

/*
 * tc_json_key_is
 *		Is the key node k equal to name (of namelen bytes), once unescaped?
 */
bool
tc_json_key_is(const TcJson *doc, int k, const char *name, size_t namelen)
{
	const TcJsonNode *key = &doc->nodes[k];
	char	   *decoded;
	size_t		len;
	bool		equal;

	if (!key->escaped)
		return key->len == namelen &&
			memcmp(doc->text + key->start, name, namelen) == 0;
	if (key->len < namelen)
		return false;			/* decoding only shortens */
	decoded = tc_json_text(doc, k, &len);
	equal = len == namelen && memcmp(decoded, name, namelen) == 0;
	pfree(decoded);
	return equal;
}

/*
 * tc_json_field
 *		The value of field name of object obj, or -1 when obj has no such
 *		field (or is no object).  When a key is given twice, the last wins,
 *		as in jsonb.
 */
int
tc_json_field(const TcJson *doc, int obj, const char *name, size_t namelen)
{
	const TcJsonNode *node = &doc->nodes[obj];
	int			found = -1;
	int			k;
	uint32		i;

	if (node->kind != TC_JSON_KIND_OBJECT)
		return -1;
	k = obj + 1;
	for (i = 0; i < node->count; i++)
	{
		if (tc_json_key_is(doc, k, name, namelen))
			found = k + 1;
		k = doc->nodes[k + 1].after;
	}
	return found;
}

/*
 * tc_json_elements
 *		The nodes of array arr's elements, in order, palloc'd; *n is their
 *		number.  NULL (and *n = 0) for an empty array.
 */
int *
tc_json_elements(const TcJson *doc, int arr, int *n)
{
	const TcJsonNode *node = &doc->nodes[arr];
	int		   *elems;
	int			e;
	uint32		i;

	*n = (int) node->count;
	if (node->count == 0)
		return NULL;
	elems = palloc(sizeof(int) * node->count);
	e = arr + 1;
	for (i = 0; i < node->count; i++)
	{
		elems[i] = e;
		e = doc->nodes[e].after;
	}
	return elems;
}

/* Back from p over white space, not before text. */
static const char *
tc_json_back_ws(const char *text, const char *p)
{
	while (p > text && (p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\r' || p[-1] == '\t'))
		p--;
	return p;
}

/*
 * tc_json_peek_last_string
 *		A guess, without parsing, at the string value of key in the
 *		object that text is: the last occurrence of "key" followed by a
 *		colon and a string without escapes, when only white space and the
 *		object's closing brace follow that string.  Copies it into out
 *		(outsize bytes) and returns true; false when the text does not end
 *		that way (or the value is null, or too long).
 *
 * Nothing is checked: the text may not be JSON at all, and the key may be
 * inside a string.  A caller acts on the guess only where being wrong
 * costs no more than some wasted work, and compares it with the parsed
 * value afterwards.
 */
bool
tc_json_peek_last_string(const char *text, size_t len, const char *key,
						 char *out, size_t outsize)
{
	size_t		keylen = strlen(key);
	const char *end = text + len;
	const char *close;
	const char *open;
	const char *p;

	/* the closing brace, then the string's closing quote, from the end */
	p = end;
	p = tc_json_back_ws(text, p);
	if (p == text || p[-1] != '}')
		return false;
	p--;
	p = tc_json_back_ws(text, p);
	if (p == text || p[-1] != '"')
		return false;
	close = p - 1;

	/* the opening quote: the value has no escape, so no quote inside */
	open = close;
	while (open > text && open[-1] != '"')
	{
		if (open[-1] == '\\')
			return false;
		open--;
	}
	if (open == text || (size_t) (close - open) >= outsize)
		return false;				/* no quote, or no room for it and a NUL */
	p = open - 1;				/* at the opening quote */

	/* then ':' and "key" before it */
	p = tc_json_back_ws(text, p);
	if (p == text || p[-1] != ':')
		return false;
	p--;
	p = tc_json_back_ws(text, p);
	if ((size_t) (p - text) < keylen + 2 || p[-1] != '"' ||
		memcmp(p - 1 - keylen, key, keylen) != 0 || p[-2 - (int) keylen] != '"')
		return false;

	memcpy(out, open, close - open);
	out[close - open] = '\0';
	return true;
}
