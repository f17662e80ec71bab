/*
 * convert.c — from DRS JSON to PostgreSQL datums.
 *
 * Parses response bodies with json-c, looks up each column's json_path in a
 * job object and converts the value by the type rules of DESIGN.md.  Every
 * JSON text this file produces leaves out secret keys (db_password and its
 * kind) at any depth, and a json_path that names a secret yields NULL.
 */
#include "postgres.h"

#include "drs_fdw.h"		/* first: see the note on json_object there */

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"


/* Deepest nesting accepted in a response; DRS jobs are about 4 levels deep. */
#define DRS_JSON_MAX_DEPTH	64
/* Longest JSON text quoted in a conversion error. */
#define DRS_ERROR_VALUE_MAX	120

typedef enum DrsConvKind
{
	CONV_TEXT,
	CONV_JSON,
	CONV_JSONB,
	CONV_BOOL,
	CONV_NUMBER,				/* integer types, numeric, float */
	CONV_TIMESTAMPTZ,
	CONV_TIMESTAMP,
	CONV_DATE,
	CONV_ARRAY,
	CONV_OTHER
} DrsConvKind;

typedef struct DrsColumn
{
	AttrNumber	attnum;
	char	   *name;
	char	   *path;			/* json_path as written */
	int			ncomponents;	/* 0 for "$": the whole job */
	char	  **components;
	bool		secret;			/* the path names a secret key: always NULL */
	const char *constant;		/* "@server"/"@project_id": this text, every row */
	Oid			typid;
	int32		typmod;
	DrsConvKind kind;
	FmgrInfo	input;
	Oid			ioparam;
} DrsColumn;

struct DrsTupleMaker
{
	int			ncols;
	DrsColumn  *cols;
	int			natts;
	const char *relname;
	const char *key_path;
	const char *servername;		/* for "@server" */
	const char *project_id;		/* for "@project_id" */
	StringInfoData buf;			/* scratch, reused for every value */
	/* for the error context of a failed conversion */
	DrsColumn  *cur_col;
	const char *cur_job;
};

/* ---------- parsing ---------- */

/*
 * Parse text[0..len) as one complete JSON value.  The bytes need not be
 * NUL-terminated.  Returns a json-c object the caller must json_object_put,
 * or NULL with *error set (palloc'd).
 */
static json_object *
parse_json_text(const char *text, size_t len, char **error)
{
	json_tokener *tok;
	json_object *obj;
	enum json_tokener_error jerr;
	size_t		end;

	*error = NULL;
	if (len == 0)
	{
		*error = pstrdup("empty body");
		return NULL;
	}
	if (len >= INT_MAX)
	{
		*error = pstrdup("body too large to parse");
		return NULL;
	}
	tok = json_tokener_new_ex(DRS_JSON_MAX_DEPTH);
	if (tok == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);

	obj = json_tokener_parse_ex(tok, text, (int) len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue)
	{
		/* a bare number has no end of its own: a NUL tells the tokener */
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		if (jerr == json_tokener_success)
			end = len;
	}
	json_tokener_free(tok);

	if (jerr == json_tokener_continue)
		*error = pstrdup("the JSON text ends prematurely");
	else if (jerr != json_tokener_success)
		*error = psprintf("%s at byte %zu", json_tokener_error_desc(jerr), end);
	else if (end < len)
		*error = psprintf("unexpected data after the JSON value at byte %zu", end);
	if (*error != NULL)
	{
		if (obj != NULL)
			json_object_put(obj);
		return NULL;
	}
	return obj;
}

/* Parse a complete response body (see parse_json_text). */
json_object *
drs_json_parse(const char *text, size_t len, char **error)
{
	return parse_json_text(text, len, error);
}

/* ---------- reading a large array element by element ---------- */

static size_t
skip_ws(const char *t, size_t len, size_t pos)
{
	while (pos < len && (t[pos] == ' ' || t[pos] == '\t' || t[pos] == '\n' || t[pos] == '\r'))
		pos++;
	return pos;
}

/*
 * Where the JSON value starting at t[pos] ends (exclusive), judged by its
 * quotes and brackets only; 0 if it does not end.  json-c checks each piece
 * in detail when it is parsed.
 */
static size_t
json_value_end(const char *t, size_t len, size_t pos)
{
	int			depth = 0;

	if (pos >= len)
		return 0;
	if (t[pos] != '{' && t[pos] != '[' && t[pos] != '"')
	{
		size_t		p = pos;

		while (p < len && t[p] != ',' && t[p] != ']' && t[p] != '}' &&
			   t[p] != ' ' && t[p] != '\t' && t[p] != '\n' && t[p] != '\r')
			p++;
		return p > pos ? p : 0;
	}
	for (size_t p = pos; p < len; p++)
	{
		char		c = t[p];

		if (c == '"')
		{
			for (p++; p < len && t[p] != '"'; p++)
				if (t[p] == '\\')
					p++;
			if (p >= len)
				return 0;
			if (depth == 0)
				return p + 1;
		}
		else if (c == '{' || c == '[')
		{
			if (++depth > DRS_JSON_MAX_DEPTH)
				return 0;
		}
		else if (c == '}' || c == ']')
		{
			if (--depth == 0)
				return p + 1;
			if (depth < 0)
				return 0;
		}
	}
	return 0;
}

/*
 * Read the object member at t[*pos], '"key": value': the key's raw bytes and
 * the value's extent; *pos moves past the comma that follows, or to the
 * closing brace.  false if no well-formed member is there.
 */
static bool
read_member(const char *t, size_t len, size_t *pos, const char **key, size_t *klen,
			size_t *vstart, size_t *vend)
{
	size_t		p = *pos;
	size_t		key_end;

	if (p >= len || t[p] != '"' || (key_end = json_value_end(t, len, p)) == 0)
		return false;
	*key = t + p + 1;
	*klen = key_end - p - 2;
	p = skip_ws(t, len, key_end);
	if (p >= len || t[p] != ':')
		return false;
	p = skip_ws(t, len, p + 1);
	*vstart = p;
	if ((*vend = json_value_end(t, len, p)) == 0)
		return false;
	p = skip_ws(t, len, *vend);
	if (p < len && t[p] == ',')
		p = skip_ws(t, len, p + 1);
	else if (p >= len || t[p] != '}')
		return false;
	*pos = p;
	return true;
}

/*
 * Open the array under top-level key array_key of the JSON object in text,
 * to read its elements one at a time with drs_json_stream_next: a large
 * job list then never becomes one large json-c tree.  The other top-level
 * members are parsed and returned as an object (the caller puts it); NULL
 * with *error if the document is not an object holding that array.
 */
json_object *
drs_json_stream_open(DrsJsonStream *s, const char *text, size_t len,
					 const char *array_key, char **error)
{
	json_object *others;
	size_t		pos = skip_ws(text, len, 0);
	bool		found = false;
	size_t		keylen = strlen(array_key);

	*error = NULL;
	memset(s, 0, sizeof(*s));
	s->text = text;
	s->first = true;
	if (pos >= len || text[pos] != '{')
	{
		*error = pstrdup("the body is not a JSON object");
		return NULL;
	}
	others = json_object_new_object();
	pos = skip_ws(text, len, pos + 1);
	while (pos < len && text[pos] != '}')
	{
		const char *key;
		size_t		klen,
					vstart,
					vend;

		if (!read_member(text, len, &pos, &key, &klen, &vstart, &vend))
			goto malformed;
		if (klen == keylen && memcmp(key, array_key, klen) == 0)
		{
			if (text[vstart] != '[' || text[vend - 1] != ']')
				goto not_an_array;
			s->pos = vstart + 1;
			s->end = vend - 1;
			found = true;
		}
		else
		{
			json_object *v = parse_json_text(text + vstart, vend - vstart, error);
			char	   *k = pnstrdup(key, klen);

			if (v == NULL && *error != NULL)
				goto malformed;
			json_object_object_add(others, k, v);
			pfree(k);
		}
	}
	if (pos >= len)
		goto malformed;
	/* nothing but blanks (and a terminating NUL) after the closing brace */
	pos = skip_ws(text, len, pos + 1);
	if (pos < len && !(pos == len - 1 && text[pos] == '\0'))
		goto malformed;
	if (!found)
		goto not_an_array;
	s->len = s->end;
	return others;

not_an_array:
	json_object_put(others);
	*error = psprintf("\"%s\" is missing or not an array", array_key);
	return NULL;

malformed:
	json_object_put(others);
	if (*error == NULL)
		*error = psprintf("malformed JSON near byte %zu", pos);
	return NULL;
}

/*
 * The next element of the array as its raw text, without parsing it:
 * true with its text and length, false at the end or with *error set.
 */
bool
drs_json_stream_next_raw(DrsJsonStream *s, const char **text, size_t *len, char **error)
{
	size_t		pos = skip_ws(s->text, s->len, s->pos);
	size_t		end;

	*error = NULL;
	if (pos >= s->len)
		return false;
	if (!s->first)
	{
		if (s->text[pos] != ',')
		{
			*error = psprintf("malformed JSON array near byte %zu", pos);
			return false;
		}
		pos = skip_ws(s->text, s->len, pos + 1);
	}
	end = json_value_end(s->text, s->len, pos);
	if (end == 0)
	{
		*error = psprintf("malformed JSON array element at byte %zu", pos);
		return false;
	}
	*text = s->text + pos;
	*len = end - pos;
	s->pos = end;
	s->first = false;
	return true;
}

/*
 * The string value of top-level member 'key' of the JSON object text[0..len),
 * found without building the object: palloc'd, or NULL if the member is
 * missing or not a string.  Other members are skipped by their brackets
 * and quotes, not checked.
 */
char *
drs_json_object_string_member(const char *text, size_t len, const char *key)
{
	size_t		pos = skip_ws(text, len, 0);
	size_t		keylen = strlen(key);

	if (pos >= len || text[pos] != '{')
		return NULL;
	pos = skip_ws(text, len, pos + 1);
	while (pos < len && text[pos] == '"')
	{
		const char *k;
		size_t		klen,
					vstart,
					vend;

		if (!read_member(text, len, &pos, &k, &klen, &vstart, &vend))
			return NULL;
		if (klen == keylen && memcmp(k, key, keylen) == 0)
		{
			char	   *error;
			json_object *v = parse_json_text(text + vstart, vend - vstart, &error);
			char	   *result = NULL;

			if (v != NULL && json_object_is_type(v, json_type_string))
				result = pnstrdup(json_object_get_string(v), json_object_get_string_len(v));
			if (v != NULL)
				json_object_put(v);
			return result;
		}
	}
	return NULL;
}

/*
 * The next element of the array (the caller puts it): true and *elem, or
 * false at the end of the array, or false with *error set.
 */
bool
drs_json_stream_next(DrsJsonStream *s, json_object **elem, char **error)
{
	const char *text;
	size_t		len;

	*elem = NULL;
	if (!drs_json_stream_next_raw(s, &text, &len, error))
		return false;
	*elem = parse_json_text(text, len, error);
	return *elem != NULL || *error == NULL;
}

/* ---------- secrets and serialization ---------- */

/*
 * Keys whose values are credentials: db_password, ssl_cert_password,
 * ssl_cert_key, and the Kafka *_password / *_key variants.  A plain "key"
 * (as in tags) is not a secret.
 */
bool
drs_is_secret_key(const char *key)
{
	size_t		len = strlen(key);

	/* ends with "_key" (but is not just "key", as in tags) */
	if (len > 4 && pg_strcasecmp(key + len - 4, "_key") == 0)
		return true;
	if (len == 5 && pg_strcasecmp(key, "token") == 0)
		return true;
	/* contains "password", "passwd" or "secret": look only where they can start */
	for (size_t i = 0; i + 6 <= len; i++)
	{
		char		c = key[i] | 0x20;	/* ASCII lower case */

		if (c == 'p' && (pg_strncasecmp(key + i, "passwd", 6) == 0 ||
						 (i + 8 <= len && pg_strncasecmp(key + i, "password", 8) == 0)))
			return true;
		if (c == 's' && pg_strncasecmp(key + i, "secret", 6) == 0)
			return true;
	}
	return false;
}

void
drs_json_append_string(StringInfo buf, const char *s, int len)
{
	appendStringInfoChar(buf, '"');
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		switch (c)
		{
			case '"':
				appendBinaryStringInfo(buf, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(buf, "\\\\", 2);
				break;
			case '\n':
				appendBinaryStringInfo(buf, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(buf, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(buf, "\\t", 2);
				break;
			case '\b':
				appendBinaryStringInfo(buf, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(buf, "\\f", 2);
				break;
			default:
				if (c < 0x20)
					appendStringInfo(buf, "\\u%04x", c);
				else
					appendStringInfoCharMacro(buf, (char) c);
		}
	}
	appendStringInfoChar(buf, '"');
}

/* Append the JSON text of a value, leaving out secret keys at any depth. */
void
drs_json_append(StringInfo buf, json_object *obj)
{
	switch (json_object_get_type(obj))
	{
		case json_type_null:
			appendStringInfoString(buf, "null");
			break;
		case json_type_boolean:
			appendStringInfoString(buf, json_object_get_boolean(obj) ? "true" : "false");
			break;
		case json_type_int:
		case json_type_double:
			/* json-c keeps the number's original text */
			appendStringInfoString(buf, json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
			break;
		case json_type_string:
			drs_json_append_string(buf, json_object_get_string(obj), json_object_get_string_len(obj));
			break;
		case json_type_array:
			{
				size_t		n = json_object_array_length(obj);

				appendStringInfoChar(buf, '[');
				for (size_t i = 0; i < n; i++)
				{
					if (i > 0)
						appendStringInfoString(buf, ", ");
					drs_json_append(buf, json_object_array_get_idx(obj, i));
				}
				appendStringInfoChar(buf, ']');
				break;
			}
		case json_type_object:
			{
				bool		first = true;
				struct json_object_iterator it = json_object_iter_begin(obj);
				struct json_object_iterator end = json_object_iter_end(obj);

				appendStringInfoChar(buf, '{');
				for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
				{
					const char *key = json_object_iter_peek_name(&it);

					if (drs_is_secret_key(key))
						continue;
					if (!first)
						appendStringInfoString(buf, ", ");
					first = false;
					drs_json_append_string(buf, key, strlen(key));
					appendStringInfoString(buf, ": ");
					drs_json_append(buf, json_object_iter_peek_value(&it));
				}
				appendStringInfoChar(buf, '}');
				break;
			}
	}
}

/* ---------- json_path ---------- */

/*
 * "$" (the whole job) or keys separated by dots; a component of digits
 * indexes an array.  Keys are letters, digits, "_" and "-".  "@server" and
 * "@project_id" are not in the job: they are the foreign server's name and
 * project, e.g. the key of a table partitioned by region.
 */
bool
drs_json_path_is_valid(const char *path, char **reason)
{
	const char *p = path;

	if (strcmp(path, "$") == 0 || strcmp(path, "@server") == 0 || strcmp(path, "@project_id") == 0)
		return true;
	if (*p == '\0')
	{
		*reason = "A json_path must not be empty.";
		return false;
	}
	for (;;)
	{
		const char *start = p;

		while (*p && *p != '.')
		{
			if (!isalnum((unsigned char) *p) && *p != '_' && *p != '-')
			{
				*reason = "A json_path is \"$\", \"@server\", \"@project_id\" or keys of letters, digits, \"_\" and \"-\" separated by dots, e.g. \"source_endpoint.ip\".";
				return false;
			}
			p++;
		}
		if (p == start)
		{
			*reason = "A json_path must not have an empty component.";
			return false;
		}
		if (*p == '\0')
			return true;
		p++;
	}
}

static bool
component_is_index(const char *c)
{
	return *c && strspn(c, "0123456789") == strlen(c);
}

static json_object *
lookup_components(json_object *obj, char **components, int n)
{
	for (int i = 0; i < n && obj != NULL; i++)
	{
		json_object *next = NULL;

		if (json_object_is_type(obj, json_type_object))
		{
			if (drs_is_secret_key(components[i]) ||
				!json_object_object_get_ex(obj, components[i], &next))
				return NULL;
		}
		else if (json_object_is_type(obj, json_type_array) && component_is_index(components[i]))
		{
			long		idx = strtol(components[i], NULL, 10);

			if (idx >= (long) json_object_array_length(obj))
				return NULL;
			next = json_object_array_get_idx(obj, idx);
		}
		else
			return NULL;
		obj = next;
	}
	return obj;
}

static int
split_path(const char *path, char ***components)
{
	char	   *copy;
	int			n = 1;
	int			i = 0;

	if (strcmp(path, "$") == 0)
	{
		*components = NULL;
		return 0;
	}
	for (const char *p = path; *p; p++)
		if (*p == '.')
			n++;
	*components = palloc(sizeof(char *) * n);
	copy = pstrdup(path);
	for (char *tok = strtok(copy, "."); tok; tok = strtok(NULL, "."))
		(*components)[i++] = tok;
	return i;
}

/* ---------- conversion ---------- */

static DrsConvKind
conversion_kind(Oid typid)
{
	switch (typid)
	{
		case TEXTOID:
			return CONV_TEXT;
		case JSONOID:
			return CONV_JSON;
		case JSONBOID:
			return CONV_JSONB;
		case BOOLOID:
			return CONV_BOOL;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return CONV_NUMBER;
		case TIMESTAMPTZOID:
			return CONV_TIMESTAMPTZ;
		case TIMESTAMPOID:
			return CONV_TIMESTAMP;
		case DATEOID:
			return CONV_DATE;
		default:
			return OidIsValid(get_element_type(typid)) ? CONV_ARRAY : CONV_OTHER;
	}
}

static void
conversion_error_callback(void *arg)
{
	DrsTupleMaker *maker = (DrsTupleMaker *) arg;

	if (maker->cur_col == NULL)
		return;
	if (maker->cur_job)
		errcontext("column \"%s\" of foreign table \"%s\", job \"%s\"",
				   maker->cur_col->name, maker->relname, maker->cur_job);
	else
		errcontext("column \"%s\" of foreign table \"%s\"",
				   maker->cur_col->name, maker->relname);
}

/* An empty maker for tuples of natts columns; see drs_tuple_maker_add_column. */
DrsTupleMaker *
drs_tuple_maker_new(int natts, const char *relname, const char *key_path)
{
	DrsTupleMaker *maker = palloc0(sizeof(DrsTupleMaker));

	maker->relname = pstrdup(relname);
	maker->key_path = key_path;
	maker->natts = natts;
	maker->cols = palloc0(sizeof(DrsColumn) * Max(natts, 1));
	initStringInfo(&maker->buf);
	return maker;
}

/* Convert column attnum (1-based) from the value at json_path 'path'. */
void
drs_tuple_maker_add_column(DrsTupleMaker *maker, AttrNumber attnum, const char *name,
						   const char *path, Oid typid, int32 typmod)
{
	DrsColumn  *col = &maker->cols[maker->ncols++];
	Oid			infunc;

	Assert(maker->ncols <= maker->natts);
	col->attnum = attnum;
	col->name = pstrdup(name);
	col->path = pstrdup(path);
	if (strcmp(path, "@server") == 0)
		col->constant = maker->servername;
	else if (strcmp(path, "@project_id") == 0)
		col->constant = maker->project_id;
	else
		col->ncomponents = split_path(col->path, &col->components);
	for (int i = 0; i < col->ncomponents; i++)
		col->secret |= drs_is_secret_key(col->components[i]);
	col->typid = typid;
	col->typmod = typmod;
	col->kind = conversion_kind(typid);
	getTypeInputInfo(typid, &infunc, &col->ioparam);
	fmgr_info(infunc, &col->input);
}

/* A maker for the given columns (attnums) of a foreign table. */
DrsTupleMaker *
drs_tuple_maker_create(Relation rel, List *attnums, const DrsResource *resource,
					   const char *servername, const char *project_id)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	DrsTupleMaker *maker = drs_tuple_maker_new(tupdesc->natts, RelationGetRelationName(rel),
											   resource->key_path);
	ListCell   *lc;

	maker->servername = pstrdup(servername);
	maker->project_id = pstrdup(project_id);

	foreach(lc, attnums)
	{
		AttrNumber	attnum = lfirst_int(lc);
		Form_pg_attribute att = TupleDescAttr(tupdesc, attnum - 1);
		char	   *name = NameStr(att->attname);

		if (att->attisdropped)
			continue;
		drs_tuple_maker_add_column(maker, attnum, name,
								   drs_column_json_path(RelationGetRelid(rel), attnum, name),
								   att->atttypid, att->atttypmod);
	}
	return maker;
}

/* The JSON text of a value for an error message: redacted and shortened. */
static char *
value_for_error(json_object *v)
{
	StringInfoData buf;

	initStringInfo(&buf);
	drs_json_append(&buf, v);
	if (buf.len > DRS_ERROR_VALUE_MAX)
	{
		buf.len = pg_mbcliplen(buf.data, buf.len, DRS_ERROR_VALUE_MAX);
		buf.data[buf.len] = '\0';
		appendStringInfoString(&buf, "...");
	}
	return buf.data;
}

static void
unconvertible(DrsColumn *col, json_object *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("cannot convert JSON %s %s to type %s",
					json_type_to_name(json_object_get_type(v)),
					value_for_error(v),
					format_type_with_typemod(col->typid, col->typmod))));
}

/* A string of decimal digits with an optional sign: an epoch-ms time. */
static bool
parse_epoch_ms(const char *s, int64 *ms)
{
	const char *p = s;
	int64		v = 0;
	bool		neg = false;

	if (*p == '-')
		neg = true, p++;
	if (!isdigit((unsigned char) *p))
		return false;
	for (; *p; p++)
	{
		if (!isdigit((unsigned char) *p))
			return false;
		if (pg_mul_s64_overflow(v, 10, &v) || pg_add_s64_overflow(v, *p - '0', &v))
			return false;
	}
	*ms = neg ? -v : v;
	return true;
}

static TimestampTz
epoch_ms_to_timestamptz(int64 ms)
{
	int64		us;
	TimestampTz ts;

	if (pg_mul_s64_overflow(ms, 1000, &us) ||
		pg_sub_s64_overflow(us,
							(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY,
							&ts) ||
		!IS_VALID_TIMESTAMP(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range: %lld milliseconds since 1970", (long long) ms)));
	return ts;
}

static Datum
input_call(DrsColumn *col, char *text)
{
	return InputFunctionCall(&col->input, text, col->ioparam, col->typmod);
}

/* Epoch milliseconds (number or digit string) or a string the type reads. */
static Datum
convert_time(DrsColumn *col, json_object *v, bool *isnull)
{
	int64		ms;
	TimestampTz ts;

	switch (json_object_get_type(v))
	{
		case json_type_int:
			ms = json_object_get_int64(v);
			break;
		case json_type_double:
			{
				double		d = json_object_get_double(v);

				if (isnan(d) || d < -9.2e15 || d > 9.2e15)
					unconvertible(col, v);
				ms = (int64) rint(d);
				break;
			}
		case json_type_string:
			if (!parse_epoch_ms(json_object_get_string(v), &ms))
				return input_call(col, (char *) json_object_get_string(v));
			break;
		default:
			unconvertible(col, v);
			return (Datum) 0;	/* keep compiler quiet */
	}
	/* DRS writes 0 (or "0") for a time that is not set */
	if (ms == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	ts = epoch_ms_to_timestamptz(ms);
	switch (col->kind)
	{
		case CONV_TIMESTAMP:
			return DirectFunctionCall1(timestamptz_timestamp, TimestampTzGetDatum(ts));
		case CONV_DATE:
			return DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(ts));
		default:
			return TimestampTzGetDatum(ts);
	}
}

/* A PostgreSQL array literal from a JSON array: {"a","b",NULL}. */
static void
append_array_literal(StringInfo buf, json_object *arr)
{
	size_t		n = json_object_array_length(arr);

	appendStringInfoChar(buf, '{');
	for (size_t i = 0; i < n; i++)
	{
		json_object *el = json_object_array_get_idx(arr, i);

		if (i > 0)
			appendStringInfoChar(buf, ',');
		if (el == NULL || json_object_is_type(el, json_type_null))
			appendStringInfoString(buf, "NULL");
		else if (json_object_is_type(el, json_type_array))
			append_array_literal(buf, el);
		else
		{
			StringInfoData tmp;
			const char *s;

			if (json_object_is_type(el, json_type_string))
				s = json_object_get_string(el);
			else
			{
				initStringInfo(&tmp);
				drs_json_append(&tmp, el);
				s = tmp.data;
			}
			appendStringInfoChar(buf, '"');
			for (; *s; s++)
			{
				if (*s == '"' || *s == '\\')
					appendStringInfoChar(buf, '\\');
				appendStringInfoChar(buf, *s);
			}
			appendStringInfoChar(buf, '"');
		}
	}
	appendStringInfoChar(buf, '}');
}

/*
 * A UTF-8 string from the API in the database encoding: the same pointer in
 * a UTF-8 database, a converted copy otherwise.
 */
static const char *
server_string(const char *s, int len)
{
	if (GetDatabaseEncoding() == PG_UTF8)
		return s;
	return pg_any_to_server(s, len, PG_UTF8);
}

static void
string_jsonb_value(JsonbValue *jv, const char *s, int len)
{
	/* jsonb cannot store a NUL character, as jsonb_in would say */
	if (memchr(s, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("unsupported Unicode escape sequence"),
				 errdetail("\\u0000 cannot be converted to text.")));
	jv->type = jbvString;
	if (GetDatabaseEncoding() == PG_UTF8)
	{
		jv->val.string.val = (char *) s;
		jv->val.string.len = len;
	}
	else
	{
		jv->val.string.val = (char *) server_string(s, len);
		jv->val.string.len = strlen(jv->val.string.val);
	}
}

/* A scalar json-c value as a JsonbValue. */
static void
scalar_jsonb_value(JsonbValue *jv, json_object *v)
{
	switch (json_object_get_type(v))
	{
		case json_type_null:
			jv->type = jbvNull;
			break;
		case json_type_boolean:
			jv->type = jbvBool;
			jv->val.boolean = json_object_get_boolean(v);
			break;
		case json_type_int:
			jv->type = jbvNumeric;
			if (json_object_get_int64(v) != INT64_MAX)
				jv->val.numeric = int64_to_numeric(json_object_get_int64(v));
			else
				jv->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																	  CStringGetDatum(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)),
																	  ObjectIdGetDatum(InvalidOid),
																	  Int32GetDatum(-1)));
			break;
		case json_type_double:
			jv->type = jbvNumeric;
			/* json-c keeps the number's original text: exact, as jsonb_in reads it */
			jv->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																  CStringGetDatum(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)),
																  ObjectIdGetDatum(InvalidOid),
																  Int32GetDatum(-1)));
			break;
		case json_type_string:
			string_jsonb_value(jv, json_object_get_string(v), json_object_get_string_len(v));
			break;
		default:
			elog(ERROR, "unexpected JSON type");
	}
}

/* Push a json-c value into a jsonb under construction, leaving out secrets. */
static JsonbValue *
push_jsonb(JsonbParseState **state, json_object *v, JsonbIteratorToken scalar_token)
{
	JsonbValue	jv;

	check_stack_depth();
	if (json_object_is_type(v, json_type_object))
	{
		struct json_object_iterator it = json_object_iter_begin(v);
		struct json_object_iterator end = json_object_iter_end(v);
		JsonbValue *res;

		pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		{
			const char *key = json_object_iter_peek_name(&it);

			if (drs_is_secret_key(key))
				continue;
			string_jsonb_value(&jv, key, strlen(key));
			pushJsonbValue(state, WJB_KEY, &jv);
			push_jsonb(state, json_object_iter_peek_value(&it), WJB_VALUE);
		}
		res = pushJsonbValue(state, WJB_END_OBJECT, NULL);
		return res;
	}
	if (json_object_is_type(v, json_type_array))
	{
		size_t		n = json_object_array_length(v);

		pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
		for (size_t i = 0; i < n; i++)
			push_jsonb(state, json_object_array_get_idx(v, i), WJB_ELEM);
		return pushJsonbValue(state, WJB_END_ARRAY, NULL);
	}
	scalar_jsonb_value(&jv, v);
	return pushJsonbValue(state, scalar_token, &jv);
}

/* A jsonb datum straight from a json-c value: no JSON text in between. */
static Datum
json_to_jsonb(json_object *v)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;

	if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
		res = push_jsonb(&state, v, WJB_VALUE);
	else
	{
		/* a scalar at the top is a one-element "raw scalar" array */
		JsonbValue	array;

		array.type = jbvArray;
		array.val.array.rawScalar = true;
		array.val.array.nElems = 1;
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, &array);
		push_jsonb(&state, v, WJB_ELEM);
		res = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

static Datum
convert_value(DrsTupleMaker *maker, DrsColumn *col, json_object *v, bool *isnull)
{
	StringInfo	buf = &maker->buf;
	json_type	jt = json_object_get_type(v);

	switch (col->kind)
	{
		case CONV_TEXT:
			if (jt == json_type_string)
			{
				int			len = json_object_get_string_len(v);
				const char *s = json_object_get_string(v);

				if (memchr(s, '\0', len) != NULL)
					ereport(ERROR,
							(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
							 errmsg("JSON string contains a NUL character, which type text cannot store")));
				s = server_string(s, len);
				return PointerGetDatum(cstring_to_text(s));
			}
			resetStringInfo(buf);
			drs_json_append(buf, v);
			return PointerGetDatum(cstring_to_text(server_string(buf->data, buf->len)));

		case CONV_JSONB:
			return json_to_jsonb(v);

		case CONV_JSON:
			resetStringInfo(buf);
			drs_json_append(buf, v);
			return input_call(col, (char *) server_string(buf->data, buf->len));

		case CONV_BOOL:
			if (jt == json_type_boolean)
				return BoolGetDatum(json_object_get_boolean(v));
			if (jt == json_type_string)
				return input_call(col, (char *) json_object_get_string(v));
			unconvertible(col, v);
			break;

		case CONV_NUMBER:
			if (jt == json_type_int || jt == json_type_double || jt == json_type_string)
			{
				resetStringInfo(buf);
				if (jt == json_type_string)
					appendStringInfoString(buf, json_object_get_string(v));
				else
					drs_json_append(buf, v);
				return input_call(col, buf->data);
			}
			unconvertible(col, v);
			break;

		case CONV_TIMESTAMPTZ:
		case CONV_TIMESTAMP:
		case CONV_DATE:
			return convert_time(col, v, isnull);

		case CONV_ARRAY:
			if (jt == json_type_array)
			{
				resetStringInfo(buf);
				append_array_literal(buf, v);
				return input_call(col, buf->data);
			}
			/* FALLTHROUGH */
		case CONV_OTHER:
			if (jt == json_type_string)
				return input_call(col, (char *) server_string(json_object_get_string(v),
															  json_object_get_string_len(v)));
			resetStringInfo(buf);
			drs_json_append(buf, v);
			return input_call(col, (char *) server_string(buf->data, buf->len));
	}
	return (Datum) 0;			/* keep compiler quiet */
}

/*
 * Fill values/isnull (natts long) from a job object.  Columns the scan does
 * not read are NULL.  Call in a short-lived memory context.
 */
void
drs_tuple_fill(DrsTupleMaker *maker, json_object *job, Datum *values, bool *isnull)
{
	ErrorContextCallback errcb;
	json_object *key;

	memset(isnull, true, sizeof(bool) * maker->natts);

	key = json_object_object_get(job, maker->key_path);
	maker->cur_job = (key && json_object_is_type(key, json_type_string))
		? json_object_get_string(key) : NULL;

	errcb.callback = conversion_error_callback;
	errcb.arg = maker;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	for (int i = 0; i < maker->ncols; i++)
	{
		DrsColumn  *col = &maker->cols[i];
		json_object *v;
		bool		null = false;
		Datum		d;

		if (col->secret)
			continue;
		if (col->constant != NULL)
		{
			maker->cur_col = col;
			values[col->attnum - 1] = col->kind == CONV_TEXT
				? PointerGetDatum(cstring_to_text(col->constant))
				: input_call(col, (char *) col->constant);
			isnull[col->attnum - 1] = false;
			continue;
		}
		v = col->ncomponents == 0 ? job
			: lookup_components(job, col->components, col->ncomponents);
		if (v == NULL || json_object_is_type(v, json_type_null))
			continue;

		maker->cur_col = col;
		d = convert_value(maker, col, v, &null);
		if (!null)
		{
			values[col->attnum - 1] = d;
			isnull[col->attnum - 1] = false;
		}
	}
	maker->cur_col = NULL;
	error_context_stack = errcb.previous;
}
