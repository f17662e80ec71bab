/*
 * fuzz_convert.c — libFuzzer target for drs_fdw's JSON handling: parsing a
 * response body, serializing values with secrets removed, and converting a
 * job object to column values of every kind.
 *
 * Oracles besides the sanitizers: whatever parses must serialize to JSON
 * that parses again and holds no secret key; a column whose json_path
 * names a secret is always NULL; errors are only ever raised through
 * ereport (a long jump back here), never by crashing.
 */
#include "postgres.h"

#include "drs_fdw.h"

#include "catalog/pg_type_d.h"

#include "pg_stubs.h"

#define NCOLS 14

static void
assert_redacted(json_object *obj)
{
	if (json_object_is_type(obj, json_type_object))
	{
		struct json_object_iterator it = json_object_iter_begin(obj);
		struct json_object_iterator end = json_object_iter_end(obj);

		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		{
			if (drs_is_secret_key(json_object_iter_peek_name(&it)))
				abort();
			assert_redacted(json_object_iter_peek_value(&it));
		}
	}
	else if (json_object_is_type(obj, json_type_array))
	{
		for (size_t i = 0; i < json_object_array_length(obj); i++)
			assert_redacted(json_object_array_get_idx(obj, i));
	}
}

static DrsTupleMaker *
make_columns(void)
{
	DrsTupleMaker *m = drs_tuple_maker_new(NCOLS, "fuzz", "id");

	drs_tuple_maker_add_column(m, 1, "id", "id", TEXTOID, -1);
	drs_tuple_maker_add_column(m, 2, "whole", "$", JSONBOID, -1);
	drs_tuple_maker_add_column(m, 3, "status", "status", TEXTOID, -1);
	drs_tuple_maker_add_column(m, 4, "create_time", "create_time", TIMESTAMPTZOID, -1);
	drs_tuple_maker_add_column(m, 5, "update_date", "update_time", DATEOID, -1);
	drs_tuple_maker_add_column(m, 6, "start_ts", "actual_start_time", TIMESTAMPOID, -1);
	drs_tuple_maker_add_column(m, 7, "port", "source_endpoint.db_port", INT4OID, -1);
	drs_tuple_maker_add_column(m, 8, "ssl", "source_endpoint.ssl_link", BOOLOID, -1);
	drs_tuple_maker_add_column(m, 9, "limits", "speed_limit", TEXTARRAYOID, -1);
	drs_tuple_maker_add_column(m, 10, "volume", "inst_info.volume_size", NUMERICOID, -1);
	drs_tuple_maker_add_column(m, 11, "shard_ip", "source_sharding.0.ip", INETOID, -1);
	drs_tuple_maker_add_column(m, 12, "source", "source_endpoint", JSONOID, -1);
	drs_tuple_maker_add_column(m, 13, "password", "source_endpoint.db_password", TEXTOID, -1);
	drs_tuple_maker_add_column(m, 14, "name", "name", JSONBOID, -1);
	return m;
}

static void
fill_one(DrsTupleMaker *maker, json_object *job)
{
	sigjmp_buf	jb;
	sigjmp_buf *outer = stub_error_jump;
	Datum		values[NCOLS];
	bool		isnull[NCOLS];

	stub_error_jump = &jb;
	if (sigsetjmp(jb, 0) == 0)
	{
		drs_tuple_fill(maker, job, values, isnull);
		if (!isnull[12])
			abort();			/* a secret reached a column */
	}
	stub_error_jump = outer;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *buf = malloc(size + 1);
	json_object *volatile root = NULL;
	sigjmp_buf	jb;

	memcpy(buf, data, size);
	buf[size] = '\0';
	stub_error_jump = &jb;
	if (sigsetjmp(jb, 0) == 0)
	{
		char	   *error;

		root = drs_json_parse(buf, size, &error);
		if (root != NULL)
		{
			StringInfoData out;
			json_object *again;
			json_object *results;
			DrsTupleMaker *maker = make_columns();

			initStringInfo(&out);
			drs_json_append(&out, root);
			again = drs_json_parse(out.data, out.len, &error);
			if (again == NULL)
				abort();		/* we wrote JSON we cannot read back */
			assert_redacted(again);
			json_object_put(again);

			if (json_object_is_type(root, json_type_object))
				fill_one(maker, root);
			if (json_object_object_get_ex(root, "results", &results) &&
				json_object_is_type(results, json_type_array))
				for (size_t i = 0; i < json_object_array_length(results); i++)
					fill_one(maker, json_object_array_get_idx(results, i));
		}
	}
	if (root != NULL)
		json_object_put(root);
	root = NULL;

	/* the same bytes as a job list read element by element */
	if (sigsetjmp(jb, 0) == 0)
	{
		DrsJsonStream st;
		char	   *error;
		json_object *others = drs_json_stream_open(&st, buf, size, "jobs", &error);

		if (others != NULL)
		{
			DrsJsonStream raw = st;
			const char *text;
			size_t		len;
			json_object *elem;

			json_object_put(others);
			while (drs_json_stream_next_raw(&raw, &text, &len, &error))
			{
				if (text < buf || text + len > buf + size)
					abort();	/* an element outside the document */
				(void) drs_json_object_string_member(text, len, "id");
			}
			while (drs_json_stream_next(&st, &elem, &error))
				if (elem != NULL)
					json_object_put(elem);
		}
	}
	stub_arena_reset();
	free(buf);
	return 0;
}
