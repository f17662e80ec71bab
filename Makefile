# drs_fdw — PGXS build of the DRS foreign data wrapper.
#   make && make install          build and install into the pg_config found on PATH
#   make installcheck             pg_regress suite (needs a running server and simulator;
#                                 scripts/test.sh sets both up)

MODULE_big = drs_fdw
OBJS = \
	src/drs_fdw.o \
	src/option.o \
	src/resource.o \
	src/pushdown.o \
	src/fetch.o \
	src/api.o \
	src/auth.o \
	src/http.o \
	src/convert.o

EXTENSION = drs_fdw
DATA = drs_fdw--1.0.sql
PGFILEDESC = "drs_fdw - foreign data wrapper for the OTC Data Replication Service API"

REGRESS = setup options select_by_id full_scan types errors secrets explain \
	limit_offset params joins import_schema resources regions

PG_CPPFLAGS = $(shell pkg-config --cflags json-c libcurl) -std=gnu99 -Wall -Wextra -Werror \
	-Wno-unused-parameter -Wno-missing-field-initializers
SHLIB_LINK = $(shell pkg-config --libs json-c libcurl)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
