# topcalls_fdw: PGXS build.  `make && make install`, then see README.md.

MODULE_big = topcalls_fdw
OBJS = \
	$(WIN32RES) \
	api.o \
	cache.o \
	connection.o \
	convert.o \
	http.o \
	json.o \
	list.o \
	option.o \
	resource.o \
	scan.o \
	shared.o \
	stats.o \
	topcalls_fdw.o \
	transfer.o

EXTENSION = topcalls_fdw
DATA = topcalls_fdw--1.0.sql topcalls_fdw--1.0--1.1.sql
PGFILEDESC = "topcalls_fdw - foreign data wrapper for the TopCalls API"

PG_CPPFLAGS = $(shell pkg-config --cflags libcurl)
SHLIB_LINK = $(shell pkg-config --libs libcurl)

# The pg_regress suites.  `make installcheck` runs them the PGXS way, against
# a running server (PGHOST, PGPORT, PGUSER: a superuser, since the suites
# drive the stand-in through COPY ... FROM PROGRAM curl) and a running
# stand-in TopCalls API, whose URLs it takes from the environment:
#   TC_API_URL    the plain-HTTP stand-in, e.g. http://127.0.0.1:8787
#   TC_TLS_URL    the TLS stand-in, e.g. https://localhost:8788
#   TC_CA_FILE    the TLS stand-in's certificate
# `eval "$(bash test/standin.sh start)"` starts both and sets them.
REGRESS = setup options lookup list convert errors explain import volume planner plans rescan calls resources faults security shared
REGRESS_OPTS = --load-extension=topcalls_fdw

# Warnings: -Wall (as PGXS sets it) and -Wextra, minus the ones PostgreSQL's
# own headers and macros trigger: unused parameters of callbacks, signed and
# unsigned comparisons in inline functions, partial initializers, and
# PG_TRY's own variables "clobbered" by its longjmp.
PG_CFLAGS = -Wextra -Wno-unused-parameter -Wno-clobbered

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The suites read the stand-in's URLs from these settings (setup.sql).
installcheck: export PGOPTIONS += -c topcalls_test.api_url=$(TC_API_URL) \
	-c topcalls_test.tls_url=$(TC_TLS_URL) -c topcalls_test.ca_file=$(TC_CA_FILE)
installcheck: tc-standin-env
.PHONY: tc-standin-env
tc-standin-env:
	@if [ -z "$(TC_API_URL)" ] || [ -z "$(TC_TLS_URL)" ] || [ -z "$(TC_CA_FILE)" ]; then \
		echo 'make installcheck needs a running stand-in API: set TC_API_URL, TC_TLS_URL and TC_CA_FILE,' >&2; \
		echo 'e.g. with: eval "$$(bash test/standin.sh start)"   (see README.md, "Tests")' >&2; \
		exit 1; \
	fi

# Every object depends on the one shared header (PGXS does not track it).
$(OBJS): topcalls_fdw.h compat.h
http.o connection.o transfer.o: connection.h
http.o transfer.o: transfer.h

# `make dist`: the PGXN release zip, topcalls_fdw-<META.json's version>.zip,
# of the committed HEAD (not of uncommitted changes), every file under
# topcalls_fdw-<version>/; .gitattributes keeps .ci/ out.  It checks first
# that META.json, the control file, the Makefile's DATA and debian/changelog
# agree (test/check-version.sh).
DIST_VERSION = $(shell python3 -c 'import json; print(json.load(open("META.json"))["version"])')
DIST_NAME = $(EXTENSION)-$(DIST_VERSION)

.PHONY: dist
dist:
	bash test/check-version.sh >/dev/null || bash test/check-version.sh
	@test -n "$(DIST_VERSION)" || { echo 'make dist: no version in META.json' >&2; exit 1; }
	@git diff --quiet HEAD || echo 'make dist: uncommitted changes are left out: the zip is made from HEAD' >&2
	git archive --format=zip --prefix=$(DIST_NAME)/ -o $(DIST_NAME).zip HEAD
	@echo "made $(DIST_NAME).zip"
