/*
 * pg_stubs.c — just enough of the PostgreSQL backend for src/convert.c to
 * run outside a server, under libFuzzer: an arena allocator for palloc,
 * StringInfo, ereport that long-jumps back to the fuzz loop (after running
 * the error context callbacks and formatting every message, so format
 * bugs show), and type input functions that check what they are given.
 */
#include "postgres.h"

#include <setjmp.h>

#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "access/attnum.h"

#include "pg_stubs.h"

#define DRS_STUB_MAX_DEPTH 100

/* ---------- palloc: an arena freed after every fuzz input ---------- */

typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	size_t		size;
	max_align_t	data[];
} Chunk;

static Chunk arena = {&arena, &arena, 0};

static void *
chunk_alloc(size_t size, bool zero)
{
	Chunk	   *c = zero ? calloc(1, sizeof(Chunk) + size) : malloc(sizeof(Chunk) + size);

	if (c == NULL)
		abort();
	c->size = size;
	c->next = arena.next;
	c->prev = &arena;
	arena.next->prev = c;
	arena.next = c;
	return c->data;
}

static Chunk *
chunk_of(void *p)
{
	return (Chunk *) ((char *) p - offsetof(Chunk, data));
}

void
stub_arena_reset(void)
{
	while (arena.next != &arena)
	{
		Chunk	   *c = arena.next;

		arena.next = c->next;
		free(c);
	}
	arena.prev = &arena;
}

void *
palloc(Size size)
{
	return chunk_alloc(size, false);
}

void *
palloc0(Size size)
{
	return chunk_alloc(size, true);
}

void
pfree(void *p)
{
	Chunk	   *c = chunk_of(p);

	c->prev->next = c->next;
	c->next->prev = c->prev;
	free(c);
}

void *
repalloc(void *p, Size size)
{
	void	   *n = palloc(size);
	Chunk	   *c = chunk_of(p);

	memcpy(n, p, Min(size, c->size));
	pfree(p);
	return n;
}

char *
pstrdup(const char *s)
{
	size_t		len = strlen(s);
	char	   *d = palloc(len + 1);

	memcpy(d, s, len + 1);
	return d;
}

char *
psprintf(const char *fmt,...)
{
	va_list		ap;
	char		probe[1];
	int			n;
	char	   *out;

	va_start(ap, fmt);
	n = vsnprintf(probe, 1, fmt, ap);
	va_end(ap);
	out = palloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(out, n + 1, fmt, ap);
	va_end(ap);
	return out;
}

/* ---------- StringInfo ---------- */

void
initStringInfo(StringInfo str)
{
	str->maxlen = 1024;
	str->data = palloc(str->maxlen);
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen = str->maxlen;

	if (needed < 0 || needed > (int) (MaxAllocSize - str->len - 1))
		abort();
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	while (needed > newlen)
		newlen *= 2;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	appendBinaryStringInfo(str, &ch, 1);
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	va_list		ap;
	char		probe[1];
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(probe, 1, fmt, ap);
	va_end(ap);
	enlargeStringInfo(str, n);
	va_start(ap, fmt);
	vsnprintf(str->data + str->len, n + 1, fmt, ap);
	va_end(ap);
	str->len += n;
}

/* ---------- ereport ---------- */

ErrorContextCallback *error_context_stack = NULL;
sigjmp_buf *stub_error_jump = NULL;
int			stub_errors = 0;
static int	cur_elevel;
static char errbuf[4096];

static void
format_message(const char *fmt, va_list ap)
{
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	/* a message must be a valid C string: strlen walks all of it */
	if (strlen(errbuf) >= sizeof(errbuf))
		abort();
}

bool
errstart(int elevel, const char *domain)
{
	cur_elevel = elevel;
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	/* run the context callbacks, as the server would */
	for (ErrorContextCallback *cb = error_context_stack; cb; cb = cb->previous)
		cb->callback(cb->arg);
	if (cur_elevel >= ERROR)
	{
		stub_errors++;
		error_context_stack = NULL;
		siglongjmp(*stub_error_jump, 1);
	}
}

/* errmsg() and friends: format the message, so format bugs show */
#define FORMATTING_STUB(name) \
int \
name(const char *fmt,...) \
{ \
	va_list		ap; \
\
	va_start(ap, fmt); \
	format_message(fmt, ap); \
	va_end(ap); \
	return 0; \
}

int
errcode(int sqlerrcode)
{
	return 0;
}

FORMATTING_STUB(errmsg)

FORMATTING_STUB(errcontext_msg)

int
set_errcontext_domain(const char *domain)
{
	return 0;
}

/* ---------- types and fmgr ---------- */

void
getTypeInputInfo(Oid type, Oid *typInput, Oid *typIOParam)
{
	*typInput = type;			/* the "input function" is the type itself */
	*typIOParam = type;
}

Oid
get_element_type(Oid typid)
{
	return typid == TEXTARRAYOID ? TEXTOID : InvalidOid;
}

void
fmgr_info(Oid functionId, FmgrInfo *finfo)
{
	memset(finfo, 0, sizeof(*finfo));
	finfo->fn_oid = functionId;
}

char *
format_type_with_typemod(Oid type_oid, int32 typemod)
{
	return psprintf("type %u", type_oid);
}

/*
 * A literal convert.c builds from a JSON array must be well formed: braces
 * balanced outside quotes, quotes closed, backslashes escaping something.
 */
static void
check_array_literal(const char *s)
{
	const char *start = s;
	int			depth = 0;
	bool		quoted = false;

	for (; *s; s++)
	{
		if (quoted)
		{
			if (*s == '\\')
			{
				if (*++s == '\0')
					abort();
			}
			else if (*s == '"')
				quoted = false;
		}
		else if (*s == '"')
			quoted = true;
		else if (*s == '{')
			depth++;
		else if (*s == '}')
		{
			if (--depth < 0)
				abort();
		}
		else if (depth == 0)
			abort();			/* text after the closing brace */
	}
	if (quoted || depth != 0)
	{
		fprintf(stderr, "bad array literal: %s\n", start);
		abort();
	}
}

/* Input "functions": integers must parse, everything else is taken. */
Datum
InputFunctionCall(FmgrInfo *flinfo, char *str, Oid typioparam, int32 typmod)
{
	size_t		len = strlen(str);

	if (flinfo->fn_oid == INT4OID)
	{
		char	   *end;
		long		v = strtol(str, &end, 10);

		if (end == str || *end != '\0' || v > PG_INT32_MAX || v < PG_INT32_MIN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type integer: \"%s\"", str)));
	}
	else if (flinfo->fn_oid == TEXTARRAYOID)
	{
		if (str[0] != '{')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("malformed array literal: \"%s\"", str)));
		check_array_literal(str);
	}
	return (Datum) len;
}

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	return arg1;
}

Datum
timestamptz_timestamp(PG_FUNCTION_ARGS)
{
	return (Datum) 0;
}

Datum
timestamptz_date(PG_FUNCTION_ARGS)
{
	return (Datum) 0;
}

text *
cstring_to_text_with_len(const char *s, int len)
{
	text	   *t = palloc(len + VARHDRSZ);

	SET_VARSIZE(t, len + VARHDRSZ);
	memcpy(VARDATA(t), s, len);
	return t;
}

/* UTF-8: never cut inside a character */
int
pg_mbcliplen(const char *mbstr, int len, int limit)
{
	if (len <= limit)
		return len;
	while (limit > 0 && ((unsigned char) mbstr[limit] & 0xC0) == 0x80)
		limit--;
	return limit;
}

char *
drs_column_json_path(Oid relid, AttrNumber attnum, const char *attname)
{
	abort();					/* the fuzzer builds its columns by hand */
}

/* ---------- jsonb construction: a checker of the token sequence ---------- */

#include "utils/jsonb.h"
#include "utils/numeric.h"

/* pushJsonbValue must see balanced containers, keys only in objects, each
 * key followed by a value, and string values with their stated length. */
static int	jb_depth;
static bool jb_in_object[DRS_STUB_MAX_DEPTH];
static bool jb_want_value;
static JsonbValue jb_result;

JsonbValue *
pushJsonbValue(JsonbParseState **pstate, JsonbIteratorToken seq, JsonbValue *jbval)
{
	if (*pstate == NULL)
	{
		jb_depth = 0;
		jb_want_value = false;
		*pstate = (JsonbParseState *) &jb_result;	/* any non-NULL marker */
	}
	switch (seq)
	{
		case WJB_BEGIN_OBJECT:
		case WJB_BEGIN_ARRAY:
			if (jb_depth >= DRS_STUB_MAX_DEPTH)
				abort();
			jb_want_value = false;
			jb_in_object[jb_depth++] = (seq == WJB_BEGIN_OBJECT);
			return NULL;
		case WJB_END_OBJECT:
		case WJB_END_ARRAY:
			if (jb_depth == 0 || jb_want_value ||
				jb_in_object[jb_depth - 1] != (seq == WJB_END_OBJECT))
				abort();
			jb_depth--;
			return jb_depth == 0 ? &jb_result : NULL;
		case WJB_KEY:
			if (jb_depth == 0 || !jb_in_object[jb_depth - 1] || jb_want_value ||
				jbval->type != jbvString)
				abort();
			jb_want_value = true;
			break;
		case WJB_VALUE:
			if (!jb_want_value)
				abort();
			jb_want_value = false;
			break;
		case WJB_ELEM:
			if (jb_depth == 0 || jb_in_object[jb_depth - 1])
				abort();
			break;
		default:
			abort();
	}
	if (jbval && jbval->type == jbvString &&
		memchr(jbval->val.string.val, '\0', jbval->val.string.len) != NULL)
		abort();				/* jsonb strings hold no NUL */
	return NULL;
}

Jsonb *
JsonbValueToJsonb(JsonbValue *val)
{
	if (val != &jb_result || jb_depth != 0)
		abort();				/* not the finished top-level container */
	return palloc0(VARHDRSZ + 4);
}

Numeric
int64_to_numeric(int64 val)
{
	return palloc0(VARHDRSZ + 8);
}

Datum
numeric_in(PG_FUNCTION_ARGS)
{
	return PointerGetDatum(palloc0(VARHDRSZ + 8));
}

Datum
DirectFunctionCall3Coll(PGFunction func, Oid collation, Datum arg1, Datum arg2, Datum arg3)
{
	/* numeric_in of a number's text: the text must be a C string */
	(void) strlen(DatumGetCString(arg1));
	return func == numeric_in ? PointerGetDatum(palloc0(VARHDRSZ + 8)) : (Datum) 0;
}

void
check_stack_depth(void)
{
}

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

char *
pg_any_to_server(const char *s, int len, int encoding)
{
	return (char *) s;
}

text *
cstring_to_text(const char *s)
{
	return cstring_to_text_with_len(s, strlen(s));
}

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	return datum;
}

FORMATTING_STUB(errmsg_internal)

FORMATTING_STUB(errdetail)

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}
