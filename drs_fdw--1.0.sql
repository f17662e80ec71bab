/* drs_fdw--1.0.sql: objects created by CREATE EXTENSION drs_fdw */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION drs_fdw" to load this file. \quit

CREATE FUNCTION drs_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION drs_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER drs_fdw
  HANDLER drs_fdw_handler
  VALIDATOR drs_fdw_validator;

-- This backend's cumulative request counters, since the backend started or
-- since drs_fdw_reset_stats().
CREATE FUNCTION drs_fdw_stats(
    OUT requests bigint,
    OUT retries bigint,
    OUT errors bigint,
    OUT bytes_received bigint,
    OUT token_requests bigint,
    OUT rows_returned bigint)
RETURNS record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION drs_fdw_reset_stats()
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION drs_fdw_version()
RETURNS text
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
