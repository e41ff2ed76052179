/* topcalls_fdw--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION topcalls_fdw" to load this file. \quit

CREATE FUNCTION topcalls_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION topcalls_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER topcalls_fdw
  HANDLER topcalls_fdw_handler
  VALIDATOR topcalls_fdw_validator;
