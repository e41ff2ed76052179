# topcalls_fdw: PGXS build.  `make && make install`, then see README.md.

MODULE_big = topcalls_fdw
OBJS = \
	$(WIN32RES) \
	api.o \
	convert.o \
	http.o \
	option.o \
	resource.o \
	scan.o \
	topcalls_fdw.o

EXTENSION = topcalls_fdw
DATA = topcalls_fdw--1.0.sql
PGFILEDESC = "topcalls_fdw - foreign data wrapper for the TopCalls API"

PG_CPPFLAGS = $(shell pkg-config --cflags json-c libcurl)
SHLIB_LINK = $(shell pkg-config --libs json-c libcurl)

# The suites need the stand-in API and a cluster set up by test/run-tests.sh.
REGRESS = setup options lookup list convert errors explain import volume planner plans rescan faults security
REGRESS_OPTS = --load-extension=topcalls_fdw

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every object depends on the one shared header (PGXS does not track it).
$(OBJS): topcalls_fdw.h compat.h
