#!/usr/bin/python3
"""A stand-in TopCalls API server for topcalls_fdw's tests, demo and benchmark.

It serves the read endpoints the FDW uses (see /work/shared/topcalls-api.md,
the contract), over HTTP/1.1 with keep-alive (optionally HTTPS), on
127.0.0.1 / ::1 only:

    GET /v1/phone-numbers/{phone_number_id}      one phone number
    GET /v1/phone-numbers?limit=L&cursor=C       one page of phone numbers
    GET /v1/phone-numbers/carriers               the custom carriers
    GET /v1/calls?limit=&cursor=&status=&campaign_id=   one page of calls
    GET /v1/calls/{call_id}                      one call, with its detail-only fields
    GET /v1/campaigns                            the campaigns
    GET /v1/campaigns/{campaign_id}              one campaign

Anything else under /v1 is a 404 problem+json; a method other than GET a 405.
The data are deterministic (see PhoneNumbers, Calls, Campaigns, Carriers and
below).  An admin API under /_admin (no authentication, never counted)
exposes counters and the request log, changes the configuration live, and
injects faults:

    GET  /_admin/health      {"ok": true}
    GET  /_admin/stats       counters (requests, lookups, lists, not_found, errors,
                             connections, in_flight, in_flight_peak, faults_served,
                             chaos_served, calls_lists, calls_details,
                             campaign_requests, carrier_requests, rate_limited,
                             open_connections, open_connections_peak)
    GET  /_admin/requests    {"requests": ["GET /v1/...", ...]}  (last 100 000)
    POST /_admin/reset       counters, log, faults, chaos, config and the rate
                             limit's token bucket back to start
    GET  /_admin/config      current config (the API key only as "api_key_changed")
    POST /_admin/config      any subset of the keys below; unknown keys or bad
                             values: 400 and nothing changes
    GET  /_admin/faults      current fault rules (with "remaining" uses)
    POST /_admin/faults      [rule, ...] replaces the rules; [] clears them
    GET  /_admin/chaos       current chaos settings
    POST /_admin/chaos       {"seed": S, "rate": R} turns chaos on; {"seed": null} off

Configuration keys (start value; POST /_admin/reset restores it):
    count         phone numbers 1..count (--count, default 50; 0..10^9)
    latency_ms    sleep before each /v1 answer (--latency-ms, default 0)
    api_key       the accepted bearer key (--api-key, default tc_test_key)
    calls         calls 1..calls (--calls, default 60; 0..10^9)
    campaigns     campaigns 1..campaigns (default 5; 0..100 000)
    carriers      carriers 1..carriers (default 3; 0..100 000)
    page_repeat   how /v1/calls pages meet (default true; see below)
    detail_omits  call fields left out of GET /v1/calls/{id} (default [])
    list_omits    call fields left out of GET /v1/calls items (default [])
    list_shape    campaigns and carriers lists: "envelope" (default),
                  "array" or "envelope_nocursor" (see below)
    rate_limit    account-wide /v1 requests per second, all connections and
                  keys together (default 0 = off; a number 0..100 000)
    rate_burst    the rate limit's token bucket size (default 0 = ceil(rate_limit),
                  at least 1; an integer 0..100 000)
    rate_mode     a request beyond the rate limit gets a 429 with
                  "Retry-After: 1" ("retry_after", default) or with no
                  Retry-After header at all ("none")

Counters: every /v1 request counts in "requests" and is logged as
"<METHOD> <path+query as received>".  Its kind, used by the counters and by
the fault rules' "kind", is "list" for /v1/phone-numbers, /v1/calls,
/v1/campaigns and /v1/phone-numbers/carriers ("lists" counts them), "lookup"
for /v1/phone-numbers/{id}, /v1/calls/{id} and /v1/campaigns/{id}
("lookups"), and "other" for the rest.  A lookup answered 404 counts in
"not_found", a 429 of the rate limit in "rate_limited" (not in "errors"),
every other answer >= 400 in "errors".  Besides: "calls_lists"
(GET /v1/calls), "calls_details" (/v1/calls/{id}), "campaign_requests"
(/v1/campaigns and /v1/campaigns/{id}) and "carrier_requests"
(/v1/phone-numbers/carriers), counted on arrival whatever the answer.
"connections" counts the TCP connections that sent a /v1 request since the
last reset.  "open_connections" is a live gauge of the TCP connections open
now that have sent at least one /v1 request (since the process started, so a
reset does not zero it: those connections stay open); a connection counts
from its first /v1 request until it closes, however it closes (client gone,
idle timeout, a fault's "close", an error), even if it later sends only
/_admin requests.  Connections that only ever spoke to /_admin are never
counted.  "open_connections_peak" is its highest value since the last reset
(a reset sets it to open_connections).

Rate limit: with rate_limit R > 0, a token bucket of rate_burst tokens
(0: ceil(R), at least 1), refilled continuously at R tokens/s, is shared by
every /v1 request of every connection and key.  It starts full and is
refilled full by a reset and by every POST /_admin/config that sets
rate_limit or rate_burst.  Each /v1 request takes a token as it arrives,
after it is counted and logged (so "requests", the kind counters and the log
include it) and before the latency sleep, the fault rules and the API key
check; one that finds no whole token is answered at once with a 429
problem+json "Rate limit exceeded." (Retry-After: 1 unless rate_mode is
"none") and counted in "rate_limited".  /_admin is never limited.

Keys and scopes: the configured api_key has every scope.  Three more keys
are always valid, each lacking one scope, and get a 403 problem+json
"This API key lacks the <scope> scope." where that scope is needed:
    tc_noscope_key      phone_numbers:read: phone numbers and carriers (and,
                        as it always had, any path that is no endpoint)
    tc_nocalls_key      calls:read: /v1/calls and /v1/calls/{id}
    tc_nocampaigns_key  campaigns:read: /v1/campaigns and /v1/campaigns/{id}
Any other key (or none) is a 401 with WWW-Authenticate.  The key is checked
before the method, the parameters and the id.

Phone numbers (PhoneNumbers): ids 00000000-0000-4000-8000-%012d, number
+1555%07d, in ascending order; cursors are opaque (base64 of
"tc~offset=N;v=1"; the '+' in them must be percent-encoded).

Calls (Calls): call i in 1..calls, BASE_CALLS = 2026-01-01T00:00:00Z:
    id                 c0000000-0000-4000-8000-%012d % i
    created_at         BASE_CALLS + (i // 2) minutes: calls 2k and 2k+1 share
                       a timestamp (call 1 is alone at BASE_CALLS)
    phone_number       +1555%07d % ((i % 50) + 1)  (phone number (i % 50) + 1)
    from_phone_number  +1666%07d % (i % 10)
    status             [completed, completed, failed, in_progress, queued, cancelled][i % 6]
    call_status        [completed, no-answer, failed, busy, completed, in-progress,
                        rejected][i % 7]
    duration           (i % 7) * 0.5 minutes, written 0, 0.5, 1, 1.5, 2, 2.5, 3
    started_at         created_at + 5 s
    end_at             started_at + duration if call_status is completed, else null
    campaign_id        null if i % 4 == 0, else cb000000-0000-4000-8000-%012d % ((i % 3) + 1)
    lead_id            null without a campaign, else 1e000000-0000-4000-8000-%012d % i
    answered_by        [human, voicemail, ivr, unknown, null][i % 5]
    error_message      "line busy" if call_status is busy, else null
    recording_url      https://recordings.topcalls.test/<i>.mp3 if call_status is
                       completed, else null
    transcript         i % 4 turns {"id": k, "user": "assistant" (k odd) | "user",
                       "text": "turn k of call i", "created_at": started_at + k s}
    call_summary       "summary of call i", null when there are no turns
    disposition        [confirmed, booked_callback, null][i % 3]
    actual_duration_billed  duration rounded up to whole minutes, null if 0
  and in GET /v1/calls/{id} only:
    account_id         a0000000-0000-4000-8000-000000000001
    external_call_id   "ext-<i>"
    completed          status is completed, failed or cancelled
    metadata           {"lead": {"name": "Lead <i>"}, "attempt": i % 3}, null if i % 5 == 0
  Timestamps are "YYYY-MM-DDTHH:MM:SSZ".  list_omits / detail_omits leave
  the named fields out (a field missing from an endpoint must read as NULL).

GET /v1/calls takes exactly the parameters limit (1..200, default 50),
cursor (an ISO 8601 timestamp YYYY-MM-DDTHH:MM:SS[.f...](Z|+HH:MM|-HH:MM)),
status (completed, no-answer, failed, busy or dispatch_timeout -- it filters
call_status; dispatch_timeout matches nothing) and campaign_id (a UUID), each
at most once; anything else is a 400 problem+json.  It answers
{"data": [...], "next_cursor": "<timestamp>" | null}, newest first
(created_at desc, id desc: i descending).  cursor=T returns the calls created
at or before T (a client may start anywhere).  next_cursor is null when no
row is left after the page.  At page boundaries, with page_repeat
    true:  next_cursor is the created_at of the page's last row, written as
           the rows write it, so the rows of that second already sent come
           again at the top of the next page.  A page that is one timestamp
           does not advance the cursor (limit 1 always, limit 2 sometimes):
           the client must notice that it got the same cursor back.
    false: next_cursor is the last row's created_at minus 1 ms, written with
           milliseconds ("...:59.999Z"), and a page that would split its last
           timestamp group across pages ends before that group (unless the
           group is the whole page: then, with limit 1 only, the second call
           of that second is skipped).  No row comes twice.
Filtered pages are as fast as unfiltered ones: every filtered property is
periodic in i (CallSelection).

Campaigns (Campaigns): campaign k in 1..campaigns: id
cb000000-0000-4000-8000-%012d, name "Campaign k", status [draft, scheduled,
running, paused, completed][k % 5], stats {"calls": N, "completed": M} (its
calls among 1..calls, and those of them with call_status completed; only
campaigns 1..3 have calls), created_at BASE_CALLS - k days.  GET
/v1/campaigns/{id}: 400 if not a UUID, 404 "Campaign not found.".

Carriers (Carriers): carrier k in 1..carriers: id cc000000-...-%012d,
account_id, voip_carrier_sid ca000000-...-%012d (carrier 1 is the phone
numbers' voip_carrier_sid), sip_gateway_sid 5a000000-...-%012d,
carrier_name Carrier One/Two/Three then "Carrier k", trunk_type [static_ip,
auth, reg][(k - 1) % 3], created_at 2025-06-01T12:00:00Z + (k - 1) days.

Campaigns and carriers lists, by list_shape: "envelope" pages them like the
phone numbers ({"data": [...], "next_cursor": C | null}, limit 1..200 default
50, cursors base64 of "cp~offset=N;v=1" and "cr~offset=N;v=1", each list
rejecting the others' cursors; other parameters are ignored); "array" answers
a bare JSON array of every item and "envelope_nocursor" {"data": [every
item]} with no next_cursor key, both ignoring every parameter.

Fault rules are tried in order against each /v1 request, after the latency
sleep; the first match is used (one of its "times" uses, if limited).  Rules
without "after_auth" are tried before the API key is checked, rules with
"after_auth": true only for requests whose key is good (for the endpoint).
Unknown keys are rejected (400), so a typo cannot silently disable a rule.
    match:    "kind": "lookup"|"list"|"any" (default any; kinds as above),
              "path_regex" (re.search on path + query as received),
              "after_auth", "times"
    answer (at most one of these; none = the normal answer):
              "status" N [+ "body" text | "json" value] [+ "content_type"]
                  no body/json: a problem+json for N >= 400, else the normal
                  body under status N
              "body_bytes" N    200 with a valid JSON body of exactly N bytes
              "gzip_bomb" N     200, Content-Encoding gzip, inflates to N bytes
              "redirect" URL    302 with Location
              "replace_body" s  the normal status and type, body s
              "empty_data": true  a list page as normal (its next_cursor
                                included), but with no rows in "data"
    extras:   "delay_ms" (sleep first), "headers" {name: value} (added, or
              replacing ours -- a Content-Length here is a deliberate lie),
              "truncate" N (full Content-Length, N body bytes, then close),
              "trickle_bytes_per_sec" N, "close": true (hang up, no answer)

Chaos mode mutates each 200 answer with probability "rate" (see Chaos); the
seed is printed so that a failure can be reproduced.

Usage:
    /usr/bin/python3 test/standin_api.py [--host 127.0.0.1] [--port 0]
        [--port-file FILE] [--count N] [--calls N] [--latency-ms M]
        [--api-key KEY] [--tls-cert PEM --tls-key PEM] [--idle-timeout S] [--quiet]

Python 3.11 standard library only.  Never logs the API key.
"""

import argparse
import base64
import binascii
import bisect
import collections
import datetime
import email.utils
import hmac
import http
import http.server
import json
import math
import os
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import zlib

NOSCOPE_KEY = "tc_noscope_key"      # always valid, but lacks phone_numbers:read
NOCALLS_KEY = "tc_nocalls_key"      # always valid, but lacks calls:read
NOCAMPAIGNS_KEY = "tc_nocampaigns_key"  # always valid, but lacks campaigns:read
# The scope each of those keys lacks (the configured --api-key has them all).
LIMITED_KEYS = ((NOSCOPE_KEY, "phone_numbers:read"), (NOCALLS_KEY, "calls:read"),
                (NOCAMPAIGNS_KEY, "campaigns:read"))
REQUEST_LOG_MAX = 100_000
ADMIN_BODY_MAX = 16 * 1024 * 1024   # largest admin request body we accept
DISCARD_BODY_MAX = 1024 * 1024      # largest /v1 request body we read and drop
STREAM_CHUNK = 64 * 1024

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
LOOKUP_PATH_RE = re.compile(r"^/v1/phone-numbers/([^/]+)$")
LIST_PATH = "/v1/phone-numbers"
CARRIERS_PATH = "/v1/phone-numbers/carriers"        # matched before LOOKUP_PATH_RE
CALLS_PATH = "/v1/calls"
CALL_PATH_RE = re.compile(r"^/v1/calls/([^/]+)$")
CAMPAIGNS_PATH = "/v1/campaigns"
CAMPAIGN_PATH_RE = re.compile(r"^/v1/campaigns/([^/]+)$")


# json.dumps(obj, separators=(",", ":")) builds a new encoder on every call;
# one shared encoder gives the same output several times faster.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def dumps(obj):
    """Compact JSON, as the real API sends it: json.dumps(obj, separators=(",", ":"))."""
    return _ENCODER.encode(obj)


# ---------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------

class PhoneNumbers:
    """The deterministic phone numbers 1..count, serialized once and cached.

    Row i depends only on i (never on the configured count), so the cache is
    valid for the life of the process.  Building the same row twice in two
    threads is harmless (both produce identical bytes), and a dict store is
    atomic in CPython, so the cache needs no lock.
    """

    ID_FMT = "00000000-0000-4000-8000-%012d"
    ID_PREFIX = "00000000-0000-4000-8000-"
    ACCOUNT_ID = "a0000000-0000-4000-8000-000000000001"
    SOURCES = ["topcalls", "byoc", "manual", "import", "twilio"]
    STATUSES = ["active", "inactive", "pending", "failed", "deleted"]
    BASE = datetime.datetime(2023, 11, 7, 5, 31, 56, tzinfo=datetime.timezone.utc)
    PLUS2 = datetime.timezone(datetime.timedelta(hours=2))
    CACHE_MAX = 250_000     # rows above this are built on every request (memory bound)

    def __init__(self):
        self._rows = {}

    def warm(self, upto):
        """Serialize rows 1..upto (at most CACHE_MAX) now.  Building a row
        costs ~10 us, so a cold first pass over 100 000 rows would otherwise
        spend a second here; warming at startup and when the count changes
        makes every pass of the benchmark measure the client, not us."""
        for i in range(1, min(upto, self.CACHE_MAX) + 1):
            if i not in self._rows:
                self.row(i)

    @staticmethod
    def _timestamp(instant, offset_plus2):
        """ISO 8601: 'Z' form, or the same instant as local time at +02:00;
        fractional seconds (always 3 digits) only when the instant has them."""
        if offset_plus2:
            instant = instant.astimezone(PhoneNumbers.PLUS2)
        t = instant
        text = "%04d-%02d-%02dT%02d:%02d:%02d" % (t.year, t.month, t.day,
                                                  t.hour, t.minute, t.second)
        if t.microsecond:
            text += ".%03d" % (t.microsecond // 1000)
        return text + ("+02:00" if offset_plus2 else "Z")

    @classmethod
    def build(cls, i):
        """The JSON object (a dict, in the API's key order) for number i >= 1."""
        status = cls.STATUSES[(i - 1) % 5]
        obj = {
            "id": cls.ID_FMT % i,
            "account_id": cls.ACCOUNT_ID,
            "number": "+1555%07d" % i,
            "source": cls.SOURCES[(i - 1) % 5],
            "status": status,
            "phone_number_sid": None if i % 3 == 0 else "5d000000-0000-4000-8000-%012d" % i,
            "voip_carrier_sid": "ca000000-0000-4000-8000-000000000001" if i % 2 == 1 else None,
            "carrier_name": "Carrier One" if i % 2 == 1 else None,
        }
        # label: a value, null (i % 4 == 0), or left out entirely (i % 7 == 0;
        # omission wins over null) -- the API may leave nullable fields out.
        if i % 7 != 0:
            obj["label"] = None if i % 4 == 0 else "Line %d" % i
        obj["error_message"] = "carrier rejected number %d" % i if status == "failed" else None
        obj["created_by_user_id"] = (None if i % 10 == 0
                                     else "b0000000-0000-4000-8000-%012d" % (i % 10))
        # created_at is 2023-11-07T05:31:56Z + i minutes.  The same instant is
        # written in different ways on purpose: with a +02:00 offset when
        # i % 6 == 0 (local time = UTC + 2 h), and with fractional seconds
        # (+0.250 s, so a different instant) when i % 9 == 0.  The tests check
        # that these instants survive unchanged whatever the session TimeZone.
        created = cls.BASE + datetime.timedelta(minutes=i)
        if i % 9 == 0:
            created += datetime.timedelta(milliseconds=250)
        obj["created_at"] = cls._timestamp(created, i % 6 == 0)
        # updated_at: one day later, always in the 'Z' form.
        obj["updated_at"] = cls._timestamp(created + datetime.timedelta(days=1), False)
        # Every fifth object carries a field the contract does not list.
        if i % 5 == 0:
            obj["extra_field"] = {"nested": [1, 2]}
        return obj

    def row(self, i):
        """The serialized object for number i (bytes), cached."""
        data = self._rows.get(i)
        if data is None:
            data = dumps(self.build(i)).encode("ascii")
            if i <= self.CACHE_MAX:
                self._rows[i] = data
        return data

    def rows(self, first, last):
        """Serialized objects first..last (inclusive) joined with commas."""
        get = self._rows.get
        parts = []
        for i in range(first, last + 1):
            data = get(i)
            if data is None:
                data = self.row(i)
            parts.append(data)
        return b",".join(parts)

    @classmethod
    def index_of(cls, phone_number_id):
        """The i of a well-formed UUID string if it has our id shape, else None."""
        text = phone_number_id.lower()
        if not text.startswith(cls.ID_PREFIX):
            return None
        tail = text[len(cls.ID_PREFIX):]
        return int(tail) if tail.isdigit() else None


# Cursors: standard (not URL-safe) base64 of "tc~offset=<n>;v=1".  The "tc~"
# prefix makes the 4th character always '+' (and most cursors also end in
# '='), so a client that does not percent-encode the cursor sends a '+' that
# the server decodes as a space: the cursor is then rejected with a 400.
CURSOR_PREFIX = b"tc~offset="
CURSOR_SUFFIX = b";v=1"


# Campaigns and carriers use the same form with their own prefixes, so that
# a cursor of one list is rejected (400) by the others.
CAMPAIGNS_CURSOR_PREFIX = b"cp~offset="
CARRIERS_CURSOR_PREFIX = b"cr~offset="


def encode_cursor(offset, prefix=CURSOR_PREFIX):
    return base64.b64encode(prefix + str(offset).encode() + CURSOR_SUFFIX).decode("ascii")


def decode_cursor(cursor, prefix=CURSOR_PREFIX):
    """The offset in a cursor we issued, or None if it is not one."""
    try:
        raw = base64.b64decode(cursor.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    if not (raw.startswith(prefix) and raw.endswith(CURSOR_SUFFIX)):
        return None
    digits = raw[len(prefix):len(raw) - len(CURSOR_SUFFIX)]
    if not digits.isdigit() or len(digits) > 12:
        return None
    return int(digits)


# ---------------------------------------------------------------------------
# Calls, campaigns and carriers
# ---------------------------------------------------------------------------

UTC = datetime.timezone.utc
BASE_CALLS = datetime.datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
ACCOUNT_ID = "a0000000-0000-4000-8000-000000000001"


def utc_text(instant, millis=False):
    """'YYYY-MM-DDTHH:MM:SSZ' (or with '.fff' milliseconds) of an aware datetime."""
    t = instant.astimezone(UTC)
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % (t.year, t.month, t.day,
                                              t.hour, t.minute, t.second)
    if millis:
        text += ".%03d" % (t.microsecond // 1000)
    return text + "Z"


TIMESTAMP_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
                          r"(Z|[+-]\d{2}:\d{2})", re.ASCII)


def parse_timestamp_us(text):
    """Microseconds from BASE_CALLS to the instant an ISO 8601 timestamp
    'YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)' names (fractions beyond
    microseconds are cut off: floor), or None if it is not one."""
    m = TIMESTAMP_RE.fullmatch(text)
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, zone = m.groups()
    try:
        naive = datetime.datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss),
                                  int((frac or "0")[:6].ljust(6, "0")))
    except ValueError:
        return None
    offset = datetime.timedelta(0)
    if zone != "Z":
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            return None
        offset = datetime.timedelta(hours=oh, minutes=om) * (1 if zone[0] == "+" else -1)
    delta = (naive - BASE_CALLS.replace(tzinfo=None)) - offset
    return delta // datetime.timedelta(microseconds=1)


class Calls:
    """The deterministic calls 1..calls (see the module docstring), with the
    list items serialized once and cached like PhoneNumbers' rows.

    Newest first (created_at desc, id desc) is simply i descending: created_at
    is BASE_CALLS + i // 2 minutes and ids grow with i.  Every property the
    list filters on is periodic in i (call_status: i % 7; campaign_id: i % 4
    and i % 3), so a filter is a set of residues modulo 84 and CallSelection
    answers "how many match up to i" and "the k-th match" arithmetically.
    """

    ID_FMT = "c0000000-0000-4000-8000-%012d"
    ID_PREFIX = "c0000000-0000-4000-8000-"
    CAMPAIGN_FMT = "cb000000-0000-4000-8000-%012d"
    CAMPAIGN_PREFIX = "cb000000-0000-4000-8000-"
    LEAD_FMT = "1e000000-0000-4000-8000-%012d"
    STATUSES = ["completed", "completed", "failed", "in_progress", "queued", "cancelled"]
    CALL_STATUSES = ["completed", "no-answer", "failed", "busy", "completed", "in-progress",
                     "rejected"]
    ANSWERED_BY = ["human", "voicemail", "ivr", "unknown", None]
    DISPOSITIONS = ["confirmed", "booked_callback", None]
    FILTER_STATUSES = ("completed", "no-answer", "failed", "busy", "dispatch_timeout")
    LIST_FIELDS = ("id", "created_at", "phone_number", "from_phone_number", "status",
                   "call_status", "duration", "started_at", "end_at", "campaign_id", "lead_id",
                   "answered_by", "error_message", "recording_url", "transcript",
                   "call_summary", "disposition", "actual_duration_billed")
    DETAIL_ONLY = ("account_id", "external_call_id", "completed", "metadata")
    DETAIL_FIELDS = LIST_FIELDS[:1] + DETAIL_ONLY[:1] + LIST_FIELDS[1:] + DETAIL_ONLY[1:]
    PERIOD = 84             # lcm(7, 4, 3): every filtered property repeats with it
    CACHE_MAX = 250_000     # list items above this are built on every request

    def __init__(self):
        self._items = {}                # i -> list item bytes (no list_omits)
        self._omit_cache = ((), {})     # (list_omits, {i: bytes}) for the current omits

    @staticmethod
    def created_at(i):
        return BASE_CALLS + datetime.timedelta(minutes=i // 2)

    @staticmethod
    def duration(i):
        """Minutes: (i % 7) * 0.5, an int when whole (0 not 0.0, 2 not 2.0)."""
        halves = i % 7
        return halves // 2 if halves % 2 == 0 else halves * 0.5

    @classmethod
    def campaign_of(cls, i):
        """The campaign number (1..3) of call i, or None."""
        return None if i % 4 == 0 else (i % 3) + 1

    @classmethod
    def build(cls, i):
        """The detail object (a dict, in the API's key order) for call i >= 1."""
        created = cls.created_at(i)
        started = created + datetime.timedelta(seconds=5)
        status = cls.STATUSES[i % 6]
        call_status = cls.CALL_STATUSES[i % 7]
        duration = cls.duration(i)
        campaign = cls.campaign_of(i)
        turns = i % 4
        obj = {
            "id": cls.ID_FMT % i,
            "account_id": ACCOUNT_ID,
            "created_at": utc_text(created),
            "phone_number": "+1555%07d" % ((i % 50) + 1),
            "from_phone_number": "+1666%07d" % (i % 10),
            "status": status,
            "call_status": call_status,
            "duration": duration,
            "started_at": utc_text(started),
            "end_at": (utc_text(started + datetime.timedelta(minutes=duration))
                       if call_status == "completed" else None),
            "campaign_id": None if campaign is None else cls.CAMPAIGN_FMT % campaign,
            "lead_id": None if campaign is None else cls.LEAD_FMT % i,
            "answered_by": cls.ANSWERED_BY[i % 5],
            "error_message": "line busy" if call_status == "busy" else None,
            "recording_url": ("https://recordings.topcalls.test/%d.mp3" % i
                              if call_status == "completed" else None),
            "transcript": [{"id": k, "user": "assistant" if k % 2 else "user",
                            "text": "turn %d of call %d" % (k, i),
                            "created_at": utc_text(started + datetime.timedelta(seconds=k))}
                           for k in range(1, turns + 1)],
            "call_summary": "summary of call %d" % i if turns else None,
            "disposition": cls.DISPOSITIONS[i % 3],
            "actual_duration_billed": -int(-duration // 1) if duration else None,
            "external_call_id": "ext-%d" % i,
            "completed": status in ("completed", "failed", "cancelled"),
            "metadata": None if i % 5 == 0 else {"lead": {"name": "Lead %d" % i},
                                                 "attempt": i % 3},
        }
        return obj

    @classmethod
    def build_item(cls, i, omits=()):
        obj = cls.build(i)
        for name in cls.DETAIL_ONLY + tuple(omits):
            obj.pop(name, None)
        return obj

    def item(self, i, omits=()):
        """The serialized list item for call i (bytes), cached."""
        cache = self._items
        if omits:
            key, cache = self._omit_cache
            if key != omits:
                cache = {}
                self._omit_cache = (omits, cache)
        data = cache.get(i)
        if data is None:
            data = dumps(self.build_item(i, omits)).encode("utf-8")
            if i <= self.CACHE_MAX:
                cache[i] = data
        return data

    def items(self, indices, omits=()):
        """Serialized list items of the calls in `indices`, joined with commas."""
        if omits:
            return b",".join([self.item(i, omits) for i in indices])
        get = self._items.get
        parts = []
        for i in indices:
            data = get(i)
            if data is None:
                data = self.item(i)
            parts.append(data)
        return b",".join(parts)

    def detail(self, i, omits=()):
        obj = self.build(i)
        for name in omits:
            obj.pop(name, None)
        return dumps(obj).encode("utf-8")

    def warm(self, upto):
        """Serialize list items 1..upto (at most CACHE_MAX) now (see PhoneNumbers.warm)."""
        for i in range(1, min(upto, self.CACHE_MAX) + 1):
            if i not in self._items:
                self.item(i)

    @classmethod
    def index_of(cls, call_id):
        text = call_id.lower()
        if not text.startswith(cls.ID_PREFIX):
            return None
        tail = text[len(cls.ID_PREFIX):]
        return int(tail) if tail.isdigit() else None

    @classmethod
    def campaign_number(cls, campaign_id):
        """k of a campaign id of our shape (any k >= 0), else None."""
        text = campaign_id.lower()
        if not text.startswith(cls.CAMPAIGN_PREFIX):
            return None
        tail = text[len(cls.CAMPAIGN_PREFIX):]
        return int(tail) if tail.isdigit() else None

    @classmethod
    def residues(cls, status, campaign_id):
        """The filter as the sorted positions 1..84 (84 standing for residue 0)
        of the calls it keeps in each block of 84; None = no filter."""
        if status is None and campaign_id is None:
            return None
        k = None if campaign_id is None else cls.campaign_number(campaign_id)
        keep = []
        for pos in range(1, cls.PERIOD + 1):
            if status is not None and cls.CALL_STATUSES[pos % 7] != status:
                continue
            if campaign_id is not None and (k is None or cls.campaign_of(pos) != k):
                continue
            keep.append(pos)
        return tuple(keep)

    @classmethod
    def stats(cls, k, n):
        """{"calls": .., "completed": ..} of campaign k among calls 1..n."""
        calls = completed = 0
        for pos in range(1, cls.PERIOD + 1):
            if cls.campaign_of(pos) != k:
                continue
            times = (n - pos) // cls.PERIOD + 1 if n >= pos else 0
            calls += times
            if cls.CALL_STATUSES[pos % 7] == "completed":
                completed += times
        return {"calls": calls, "completed": completed}


class CallSelection:
    """The calls 1..n that a filter keeps, in ascending order, as a virtual
    sequence: count_upto(x) and at(k) in O(log 84) without listing them."""

    def __init__(self, n, positions):
        self.n = n
        self.positions = positions      # None (all calls) or Calls.residues(...)

    def count_upto(self, x):
        """How many kept calls have i <= x."""
        x = min(x, self.n)
        if x <= 0:
            return 0
        if self.positions is None:
            return x
        q, r = divmod(x, Calls.PERIOD)
        return q * len(self.positions) + bisect.bisect_right(self.positions, r)

    def at(self, k):
        """The i of the k-th (0-based) kept call, ascending."""
        if self.positions is None:
            return k + 1
        q, r = divmod(k, len(self.positions))
        return q * Calls.PERIOD + self.positions[r]


class Campaigns:
    """Campaigns 1..campaigns; their stats count the calls 1..calls."""

    ID_FMT = "cb000000-0000-4000-8000-%012d"
    STATUSES = ["draft", "scheduled", "running", "paused", "completed"]

    @classmethod
    def build(cls, k, calls):
        return {
            "id": cls.ID_FMT % k,
            "name": "Campaign %d" % k,
            "status": cls.STATUSES[k % 5],
            "stats": Calls.stats(k, calls),
            "created_at": utc_text(BASE_CALLS - datetime.timedelta(days=k)),
        }


class Carriers:
    """Custom carriers 1..carriers (carrier 1 is the phone numbers' voip_carrier_sid)."""

    NAMES = ["Carrier One", "Carrier Two", "Carrier Three"]
    TRUNK_TYPES = ["static_ip", "auth", "reg"]
    BASE = datetime.datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)

    @classmethod
    def build(cls, k):
        return {
            "id": "cc000000-0000-4000-8000-%012d" % k,
            "account_id": ACCOUNT_ID,
            "voip_carrier_sid": "ca000000-0000-4000-8000-%012d" % k,
            "sip_gateway_sid": "5a000000-0000-4000-8000-%012d" % k,
            "carrier_name": cls.NAMES[k - 1] if k <= 3 else "Carrier %d" % k,
            "trunk_type": cls.TRUNK_TYPES[(k - 1) % 3],
            "created_at": utc_text(cls.BASE + datetime.timedelta(days=k - 1)),
        }


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------

class Response:
    """One HTTP answer.  The body is bytes, or a (length, chunk iterator)
    stream for very large bodies.  `headers` are extra (name, value) pairs;
    one named Content-Length replaces the computed one (a deliberate lie)."""

    def __init__(self, status, body=b"", content_type=None, headers=None,
                 stream=None, kind="normal"):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list(headers or [])
        self.stream = stream            # (length, iterable of bytes) or None
        self.kind = kind                # "normal", "fault" or "chaos"

    @property
    def length(self):
        return self.stream[0] if self.stream else len(self.body)

    def chunks(self):
        if self.stream:
            return iter(self.stream[1])
        return iter([self.body]) if self.body else iter([])


def json_response(status, obj, content_type="application/json", headers=None):
    return Response(status, dumps(obj).encode("utf-8"), content_type, headers)


def problem(status, title, detail, errors=None, headers=None):
    """An RFC 7807 problem+json answer, shaped like the real API's."""
    obj = {"status": status, "title": title, "detail": detail}
    if errors:
        obj["errors"] = errors
    return json_response(status, obj, "application/problem+json", headers)


def rate_limited_answer(rate_mode):
    """The 429 of a request beyond the rate limit, with "Retry-After: 1"
    unless rate_mode is "none" (a client must then pick its own wait)."""
    headers = [("Retry-After", "1")] if rate_mode == "retry_after" else []
    return json_response(429, {"type": "about:blank", "title": "Too Many Requests",
                               "status": 429, "detail": "Rate limit exceeded."},
                         "application/problem+json", headers)


def reason_phrase(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# ---------------------------------------------------------------------------
# Fault injection
# ---------------------------------------------------------------------------

class RuleError(ValueError):
    pass


class FaultRule:
    """One fault rule, validated when posted.  `remaining` is None (unlimited)
    or the number of uses left; it is only changed under the state lock."""

    KEYS = {"kind", "path_regex", "after_auth", "times", "status", "body", "json",
            "content_type", "headers", "delay_ms", "body_bytes", "gzip_bomb",
            "trickle_bytes_per_sec", "truncate", "close", "redirect", "replace_body",
            "empty_data", "comment"}

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise RuleError("each fault rule must be a JSON object")
        unknown = set(spec) - self.KEYS
        if unknown:
            raise RuleError("unknown fault rule keys: %s" % ", ".join(sorted(unknown)))
        self.spec = spec
        self.kind = spec.get("kind", "any")
        if self.kind not in ("lookup", "list", "any"):
            raise RuleError('"kind" must be "lookup", "list" or "any"')
        self.path_regex = None
        if spec.get("path_regex") is not None:
            try:
                self.path_regex = re.compile(self._str(spec, "path_regex"))
            except re.error as e:
                raise RuleError("bad path_regex: %s" % e) from None
        self.after_auth = self._bool(spec, "after_auth")
        self.remaining = self._int(spec, "times", 0)
        self.status = self._int(spec, "status", 200, 599)
        self.body = self._str(spec, "body")
        self.has_json = "json" in spec
        if self.body is not None and self.has_json:
            raise RuleError('give "body" or "json", not both')
        if (self.body is not None or self.has_json) and self.status is None:
            raise RuleError('"body" and "json" need a "status"')
        self.content_type = self._str(spec, "content_type")
        headers = spec.get("headers") or {}
        if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in headers.items()):
            raise RuleError('"headers" must be an object of name: value')
        for name, value in headers.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) or re.search(r"[\r\n]", str(value)):
                raise RuleError("bad header %r" % name)
        self.headers = [(k, str(v)) for k, v in headers.items()]
        delay = spec.get("delay_ms")
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, float))
                                  or delay < 0):
            raise RuleError('"delay_ms" must be a number >= 0')
        self.delay_ms = delay or 0
        self.body_bytes = self._int(spec, "body_bytes", 0)
        self.gzip_bomb = self._int(spec, "gzip_bomb", 0)
        self.trickle = self._int(spec, "trickle_bytes_per_sec", 1)
        self.truncate = self._int(spec, "truncate", 0)
        self.close = self._bool(spec, "close")
        self.redirect = self._str(spec, "redirect")
        if self.redirect is not None and re.search(r"[\r\n]", self.redirect):
            raise RuleError('"redirect" must be one line')
        self.replace_body = self._str(spec, "replace_body")
        self.empty_data = self._bool(spec, "empty_data")
        answers = [k for k in ("status", "body_bytes", "gzip_bomb", "redirect", "replace_body",
                               "empty_data")
                   if spec.get(k) not in (None, False)]
        if len(answers) > 1:
            raise RuleError("a rule may have only one of status, body_bytes, gzip_bomb, "
                            "redirect, replace_body and empty_data (it has %s)" % ", ".join(answers))

    @staticmethod
    def _str(spec, key):
        value = spec.get(key)
        if value is not None and not isinstance(value, str):
            raise RuleError('"%s" must be a string' % key)
        return value

    @staticmethod
    def _bool(spec, key):
        value = spec.get(key, False)
        if not isinstance(value, bool):
            raise RuleError('"%s" must be true or false' % key)
        return value

    @staticmethod
    def _int(spec, key, low, high=None):
        value = spec.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (
                high is not None and value > high):
            raise RuleError('"%s" must be an integer >= %d%s'
                            % (key, low, "" if high is None else " and <= %d" % high))
        return value

    def matches(self, kind, target, after_auth):
        if self.after_auth != after_auth:
            return False
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.kind != "any" and self.kind != kind:
            return False
        return self.path_regex is None or self.path_regex.search(target) is not None

    def describe(self):
        out = dict(self.spec)
        out["remaining"] = self.remaining
        return out


def body_of_bytes(n):
    """A valid JSON body of exactly n bytes, as (length, chunk iterator)."""
    if n >= 9:
        head, tail, fill, count = b'{"id":"', b'"}', b"x", n - 9
    elif n >= 2:
        head, tail, fill, count = b"{}", b"", b" ", n - 2
    else:
        head, tail, fill, count = b"", b"", b"0", n

    def gen():
        yield head
        block = fill * STREAM_CHUNK
        left = count
        while left > 0:
            step = min(left, STREAM_CHUNK)
            yield block if step == STREAM_CHUNK else block[:step]
            left -= step
        yield tail
    return n, gen()


_bomb_cache = {}
_bomb_lock = threading.Lock()


def gzip_bomb(n):
    """gzip data that decompresses to n bytes of {"a":"000...0"} (cached by n)."""
    with _bomb_lock:
        data = _bomb_cache.get(n)
        if data is None:
            comp = zlib.compressobj(9, zlib.DEFLATED, 31)   # wbits 31: gzip wrapper
            parts = []
            if n >= 8:
                parts.append(comp.compress(b'{"a":"'))
                left, block = n - 8, b"0" * (1 << 20)
                while left > 0:
                    step = min(left, len(block))
                    parts.append(comp.compress(block if step == len(block) else block[:step]))
                    left -= step
                parts.append(comp.compress(b'"}'))
            else:
                parts.append(comp.compress(b" " * n))
            parts.append(comp.flush())
            data = b"".join(parts)
            _bomb_cache[n] = data
        return data


# ---------------------------------------------------------------------------
# Chaos mode
# ---------------------------------------------------------------------------

class Chaos:
    """Random mutations of 200 answers, drawn from one seeded random.Random.
    Every method is called with the state lock held, so the sequence of
    mutations is reproducible for a given seed and request order."""

    MUTATIONS = ("truncate", "flip", "deep_nest", "huge_string", "wrong_type",
                 "bad_utf8", "replace_body", "http_error")
    SENTINEL = "__topcalls_standin_chaos_sentinel__"
    WRONG_VALUES = (0, 12345678901234567890, -1.5, 1e308, True, False, {}, {"x": 1}, [],
                    [1, "a"], None)
    BAD_UTF8 = (b"\xc3\x28", b"\xff", b"\xfe\xfe", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82")
    BODIES = (b"[]", b"[1,2,3]", b"42", b"-0.5", b"", b"null")

    def __init__(self, seed, rate):
        self.seed = seed
        self.rate = rate
        self.rng = random.Random(seed)

    def mutate(self, resp):
        """Maybe return a mutated copy of a 200 Response, else None."""
        rng = self.rng
        if rng.random() >= self.rate:
            return None
        name = rng.choice(self.MUTATIONS)
        body = resp.body
        out = getattr(self, "_" + name)(rng, body)
        if out is None:                 # nothing to work on: flip bytes instead
            out = self._flip(rng, body)
        status, ctype, new_body = out
        return Response(status, new_body, ctype or resp.content_type, resp.headers, kind="chaos")

    # Each mutation returns (status, content_type or None, body) or None.

    def _truncate(self, rng, body):
        return 200, None, body[:rng.randrange(len(body))] if body else b""

    def _flip(self, rng, body):
        data = bytearray(body)
        if data:
            for _ in range(rng.randint(1, 5)):
                data[rng.randrange(len(data))] ^= rng.randint(1, 255)
        return 200, None, bytes(data)

    @staticmethod
    def _slots(node, strings_only, out):
        """(container, key) of every value below node (strings only, or all)."""
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(value, (dict, list)):
                if not strings_only:
                    out.append((node, key))
                Chaos._slots(value, strings_only, out)
            elif isinstance(value, str) or not strings_only:
                out.append((node, key))
        return out

    def _with_sentinel(self, rng, body, strings_only, value_of):
        """Parse body, put the sentinel into a random slot (value_of(old) gives
        what to store there), serialize, and return the bytes."""
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        if not isinstance(doc, (dict, list)):
            return None
        slots = self._slots(doc, strings_only, [])
        if not slots:
            return None
        node, key = rng.choice(slots)
        node[key] = value_of(node[key])
        return dumps(doc).encode("utf-8")

    def _deep_nest(self, rng, body):
        depth = rng.randint(50, 5000)
        data = self._with_sentinel(rng, body, True, lambda old: self.SENTINEL)
        if data is None:
            return None
        return 200, None, data.replace(b'"%s"' % self.SENTINEL.encode(), b"[" * depth + b"]" * depth)

    def _huge_string(self, rng, body):
        size = rng.randint(1 << 20, 20 << 20)
        data = self._with_sentinel(rng, body, True, lambda old: self.SENTINEL)
        if data is None:
            return None
        return 200, None, data.replace(self.SENTINEL.encode(), b"x" * size)

    def _wrong_type(self, rng, body):
        value = rng.choice(self.WRONG_VALUES)
        data = self._with_sentinel(rng, body, False, lambda old: value)
        return None if data is None else (200, None, data)

    def _bad_utf8(self, rng, body):
        bad = rng.choice(self.BAD_UTF8)
        pos = rng.random()

        def insert(old):
            k = int(len(old) * pos)
            return old[:k] + self.SENTINEL + old[k:]
        data = self._with_sentinel(rng, body, True, insert)
        if data is None:
            return None
        return 200, None, data.replace(self.SENTINEL.encode(), bad)

    def _replace_body(self, rng, body):
        return 200, None, rng.choice(self.BODIES)

    def _http_error(self, rng, body):
        status = rng.choice((500, 502))
        html = ("<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1>"
                "</center><hr><center>nginx</center></body></html>\r\n"
                % (status, reason_phrase(status), status, reason_phrase(status)))
        return status, "text/html", html.encode()


# ---------------------------------------------------------------------------
# Shared state
# ---------------------------------------------------------------------------

class StandinState:
    """Everything mutable that the handler threads share, behind one lock:
    configuration, counters, request log, fault rules and chaos mode."""

    COUNTERS = ("requests", "lookups", "lists", "not_found", "errors", "connections",
                "in_flight", "in_flight_peak", "faults_served", "chaos_served",
                "calls_lists", "calls_details", "campaign_requests", "carrier_requests",
                "rate_limited", "open_connections", "open_connections_peak")
    # Gauges of things that outlive a reset: reset() keeps their values.
    LIVE_GAUGES = ("in_flight", "open_connections")
    LIST_SHAPES = ("envelope", "array", "envelope_nocursor")
    RATE_MODES = ("retry_after", "none")
    RATE_MAX = 100_000

    def __init__(self, count, latency_ms, api_key, quiet, calls=60):
        self.lock = threading.Lock()
        self.initial = {"count": count, "latency_ms": latency_ms, "api_key": api_key,
                        "calls": calls, "campaigns": 5, "carriers": 3, "page_repeat": True,
                        "detail_omits": (), "list_omits": (), "list_shape": "envelope",
                        "rate_limit": 0, "rate_burst": 0, "rate_mode": "retry_after"}
        self.config = dict(self.initial)
        self.quiet = quiet
        self.data = PhoneNumbers()
        self.calls = Calls()
        self.generation = 0     # bumped by reset; a connection counts once per generation
        self.stats = dict.fromkeys(self.COUNTERS, 0)
        self.request_log = collections.deque(maxlen=REQUEST_LOG_MAX)
        self.rules = []
        self.chaos = None
        # The rate limit's token bucket: tokens left at bucket_stamp
        # (time.monotonic()).  None means full: the size depends on the
        # config at the time of the next request, so refilling it (start,
        # reset, a new rate_limit or rate_burst) need not compute it.
        self.bucket_tokens = None
        self.bucket_stamp = 0.0

    def say(self, text):
        if not self.quiet:
            print(text, flush=True)

    # -- /v1 bookkeeping ----------------------------------------------------

    def begin(self, handler, kind, line, counter=None):
        """Count a /v1 request as it arrives (also in `counter`, if given)
        and take its rate limit token; return (latency_ms, generation,
        limited), limited being None, or the rate_mode of the 429 to send
        at once if the request is beyond the rate limit."""
        with self.lock:
            s = self.stats
            s["requests"] += 1
            if kind == "lookup":
                s["lookups"] += 1
            elif kind == "list":
                s["lists"] += 1
            if counter is not None:
                s[counter] += 1
            if handler.counted_generation != self.generation:
                handler.counted_generation = self.generation
                s["connections"] += 1
            if not handler.open_counted:
                # Its first /v1 request: it is open until finish() (see there).
                handler.open_counted = True
                s["open_connections"] += 1
                s["open_connections_peak"] = max(s["open_connections_peak"],
                                                 s["open_connections"])
            s["in_flight"] += 1
            s["in_flight_peak"] = max(s["in_flight_peak"], s["in_flight"])
            self.request_log.append(line)
            limited = None
            if not self.take_token():
                limited = self.config["rate_mode"]
                # Counted here, with the decision, not in end(): the counter
                # is exact even if the client reads stats before end() runs.
                s["rate_limited"] += 1
            return self.config["latency_ms"], self.generation, limited

    def take_token(self):
        """Take one token from the rate limit's bucket (with the lock held):
        False if there is no whole token, True if there was (or the limit is
        off).  The bucket is refilled lazily, by the time since the last
        request, so no timer thread is needed and, under the one lock, the
        count is exact however many threads ask at once."""
        rate = self.config["rate_limit"]
        if not rate:
            return True
        burst = self.config["rate_burst"] or max(1, math.ceil(rate))
        now = time.monotonic()
        if self.bucket_tokens is None:
            tokens = burst
        else:
            tokens = min(burst, self.bucket_tokens + (now - self.bucket_stamp) * rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self.bucket_tokens, self.bucket_stamp = tokens, now
        return allowed

    def connection_closed(self, handler):
        """A connection counted in open_connections has closed."""
        with self.lock:
            if handler.open_counted:
                handler.open_counted = False
                self.stats["open_connections"] -= 1

    def end(self, generation, kind, status, fault, limited=False):
        """Count the answer (status None: none was sent).  A rate limit 429
        (`limited`) was counted by begin() and is no error."""
        with self.lock:
            s = self.stats
            s["in_flight"] -= 1
            if generation != self.generation or limited:
                return          # answered after a reset (the old period's), or counted
            if fault:
                s["faults_served"] += 1
            if status is None or status < 400:
                return
            if kind == "lookup" and status == 404:
                s["not_found"] += 1
            else:
                s["errors"] += 1

    def take_rule(self, kind, target, after_auth):
        """The first matching fault rule (using one of its uses), or None."""
        with self.lock:
            for rule in self.rules:
                if rule.matches(kind, target, after_auth):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    def maybe_chaos(self, resp):
        with self.lock:
            if self.chaos is None:
                return None
            out = self.chaos.mutate(resp)
            if out is not None:
                self.stats["chaos_served"] += 1
            return out

    def snapshot_config(self):
        with self.lock:
            return dict(self.config)

    # -- admin --------------------------------------------------------------

    def stats_json(self):
        with self.lock:
            return dict(self.stats)

    def requests_json(self):
        with self.lock:
            return {"requests": list(self.request_log)}

    def public_config(self):
        """The config without the API key itself (never echoed anywhere)."""
        with self.lock:
            c = self.config
            return {"count": c["count"], "latency_ms": c["latency_ms"],
                    "api_key_changed": c["api_key"] != self.initial["api_key"],
                    "calls": c["calls"], "campaigns": c["campaigns"], "carriers": c["carriers"],
                    "page_repeat": c["page_repeat"], "detail_omits": list(c["detail_omits"]),
                    "list_omits": list(c["list_omits"]), "list_shape": c["list_shape"],
                    "rate_limit": c["rate_limit"], "rate_burst": c["rate_burst"],
                    "rate_mode": c["rate_mode"]}

    def reset(self):
        with self.lock:
            # Requests in flight still finish and decrement; open connections
            # stay open and decrement when they close.  Each peak restarts
            # from its gauge.
            live = {k: self.stats[k] for k in self.LIVE_GAUGES}
            self.generation += 1
            self.stats = dict.fromkeys(self.COUNTERS, 0)
            self.stats.update(live)
            self.stats["in_flight_peak"] = live["in_flight"]
            self.stats["open_connections_peak"] = live["open_connections"]
            self.request_log.clear()
            self.rules = []
            self.chaos = None
            self.config = dict(self.initial)
            self.bucket_tokens = None                   # full
        self.say("standin: reset")

    def set_config(self, changes):
        if not isinstance(changes, dict):
            raise RuleError("config must be a JSON object")
        unknown = set(changes) - set(self.initial)
        if unknown:
            raise RuleError("unknown config keys: %s" % ", ".join(sorted(unknown)))
        changes = dict(changes)
        for key, high in (("count", 10 ** 9), ("calls", 10 ** 9), ("campaigns", 100_000),
                          ("carriers", 100_000)):
            if key in changes:
                v = changes[key]
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= high:
                    raise RuleError('"%s" must be an integer between 0 and %d' % (key, high))
        if "page_repeat" in changes and not isinstance(changes["page_repeat"], bool):
            raise RuleError('"page_repeat" must be true or false')
        if "list_shape" in changes and changes["list_shape"] not in self.LIST_SHAPES:
            raise RuleError('"list_shape" must be one of %s' % ", ".join(self.LIST_SHAPES))
        for key, fields in (("detail_omits", Calls.DETAIL_FIELDS),
                            ("list_omits", Calls.LIST_FIELDS)):
            if key in changes:
                v = changes[key]
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise RuleError('"%s" must be a list of call field names' % key)
                bad = sorted(set(v) - set(fields))
                if bad:
                    raise RuleError('"%s": not %s call fields: %s'
                                    % (key, "detail" if key == "detail_omits" else "list item",
                                       ", ".join(bad)))
                changes[key] = tuple(sorted(set(v), key=fields.index))
        if "latency_ms" in changes:
            v = changes["latency_ms"]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 3_600_000:
                raise RuleError('"latency_ms" must be a number between 0 and 3600000')
        if "api_key" in changes:
            v = changes["api_key"]
            if not isinstance(v, str) or not v or re.search(r"[\x00-\x20\x7f]", v):
                raise RuleError('"api_key" must be a non-empty string without spaces')
        if "rate_limit" in changes:
            v = changes["rate_limit"]
            # NaN fails the comparison, infinity the bound (json.loads accepts both).
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= self.RATE_MAX:
                raise RuleError('"rate_limit" must be a number between 0 and %d' % self.RATE_MAX)
        if "rate_burst" in changes:
            v = changes["rate_burst"]
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= self.RATE_MAX:
                raise RuleError('"rate_burst" must be an integer between 0 and %d' % self.RATE_MAX)
        if "rate_mode" in changes and changes["rate_mode"] not in self.RATE_MODES:
            raise RuleError('"rate_mode" must be one of %s' % ", ".join(self.RATE_MODES))
        with self.lock:
            self.config.update(changes)
            if "rate_limit" in changes or "rate_burst" in changes:
                self.bucket_tokens = None       # a new limit starts with a full bucket
        if "count" in changes:
            self.data.warm(changes["count"])    # before answering: see warm()
        if "calls" in changes:
            self.calls.warm(changes["calls"])
        self.say("standin: config changed (%s)" % ", ".join(sorted(changes)))

    def set_rules(self, specs):
        if not isinstance(specs, list):
            raise RuleError("faults must be a JSON list of rules")
        rules = [FaultRule(spec) for spec in specs]
        with self.lock:
            self.rules = rules
        self.say("standin: %d fault rule(s) set" % len(rules))

    def rules_json(self):
        with self.lock:
            return {"rules": [r.describe() for r in self.rules]}

    def set_chaos(self, spec):
        if not isinstance(spec, dict):
            raise RuleError("chaos settings must be a JSON object")
        unknown = set(spec) - {"seed", "rate"}
        if unknown:
            raise RuleError("unknown chaos keys: %s" % ", ".join(sorted(unknown)))
        seed = spec.get("seed")
        rate = spec.get("rate", 1.0)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, str))):
            raise RuleError('"seed" must be an integer, a string or null')
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise RuleError('"rate" must be a number between 0 and 1')
        with self.lock:
            self.chaos = None if seed is None else Chaos(seed, float(rate))
        # The seed is printed even with --quiet: it is what reproduces a failure.
        if seed is None:
            self.say("standin: chaos mode off")
        else:
            print("standin: chaos mode on, seed=%s rate=%s" % (json.dumps(seed), rate), flush=True)

    def chaos_json(self):
        with self.lock:
            c = self.chaos
            return {"seed": None if c is None else c.seed, "rate": None if c is None else c.rate}


# ---------------------------------------------------------------------------
# The request handler
# ---------------------------------------------------------------------------

class StandinHandler(http.server.BaseHTTPRequestHandler):
    """One instance per TCP connection; handles its keep-alive requests."""

    protocol_version = "HTTP/1.1"
    server_version = "topcalls-standin/1.0"
    sys_version = ""
    disable_nagle_algorithm = True      # TCP_NODELAY on every accepted socket

    def setup(self):
        # Idle keep-alive connections are closed after --idle-timeout seconds.
        self.timeout = self.server.idle_timeout or None
        self.open_counted = False       # counted in open_connections (see begin())
        super().setup()
        self.counted_generation = None

    def finish(self):
        # BaseRequestHandler calls finish() however handle() ends (a clean
        # close, the idle timeout, a fault's "close", an exception), so this
        # is the one place where an open connection stops counting; the
        # socket itself is closed right after, by the server.
        try:
            super().finish()
        finally:
            self.server.state.connection_closed(self)

    def handle(self):
        sock = self.connection
        if isinstance(sock, ssl.SSLSocket):
            # The handshake runs here, in the connection's thread, not in accept().
            try:
                sock.settimeout(10)
                sock.do_handshake()
                sock.settimeout(self.timeout)
            except (OSError, ssl.SSLError):
                self.close_connection = True
                return
        try:
            super().handle()
        except (ConnectionError, TimeoutError, ssl.SSLError):
            pass        # the client went away: nothing to say

    def log_message(self, format, *args):
        pass            # no per-request logging

    # Every method goes to one dispatcher.
    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_GET

    # -- plumbing -----------------------------------------------------------

    def read_body(self, limit):
        """Read the request body; None (and close afterwards) if unusable."""
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True
            return None
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit() or int(length) > limit:
            self.close_connection = True
            return None
        return self.rfile.read(int(length))

    def send(self, resp, truncate=None, trickle=None):
        """Write a Response: status line, headers and the start of the body in
        one sendall.  `truncate` sends only that many body bytes and closes
        the connection; `trickle` writes the body at that many bytes/s."""
        status = resp.status
        no_body = self.command == "HEAD" or status in (204, 304)
        names = {name.lower() for name, _ in resp.headers}
        lines = ["HTTP/1.1 %d %s" % (status, reason_phrase(status)),
                 "Server: " + self.server_version,
                 "Date: " + email.utils.formatdate(usegmt=True)]
        if resp.content_type and "content-type" not in names:
            lines.append("Content-Type: " + resp.content_type)
        if status != 204 and "content-length" not in names:
            lines.append("Content-Length: %d" % (0 if status == 304 else resp.length))
        lines.extend("%s: %s" % h for h in resp.headers)
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if no_body:
            self.connection.sendall(head)
            return
        chunks = resp.chunks()
        if truncate is not None:
            chunks = self._limit(chunks, truncate)
            self.close_connection = True
        if trickle:
            self.connection.sendall(head)
            self._trickle(chunks, trickle)
            return
        first = next(chunks, b"")
        self.connection.sendall(head + first)
        for chunk in chunks:
            self.connection.sendall(chunk)

    @staticmethod
    def _limit(chunks, n):
        for chunk in chunks:
            if n <= 0:
                return
            yield chunk[:n]
            n -= len(chunk)

    def _trickle(self, chunks, rate):
        """rate bytes/s in small writes (1 byte each up to 20 B/s, else 20
        writes a second).  A client that goes away raises and ends it."""
        piece = max(1, rate // 20)
        pause = piece / rate
        for chunk in chunks:
            for k in range(0, len(chunk), piece):
                self.connection.sendall(chunk[k:k + piece])
                time.sleep(pause)

    # -- routing ------------------------------------------------------------

    def dispatch(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path == "/_admin" or path.startswith("/_admin/"):
                self.admin(path)
            elif path == "/v1" or path.startswith("/v1/"):
                self.api(path)
            else:
                self.read_body(DISCARD_BODY_MAX)
                self.send(json_response(404, {"error": "not found"}))
        except (ConnectionError, TimeoutError, ssl.SSLError):
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            try:
                self.send(problem(500, "Internal Server Error", "Stand-in internal error."))
            except OSError:
                pass

    # -- /v1 ----------------------------------------------------------------

    # route -> (kind for counters and fault rules, extra counter, scope needed)
    ROUTES = {
        "phone_number": ("lookup", None, "phone_numbers:read"),
        "phone_numbers": ("list", None, "phone_numbers:read"),
        "carriers": ("list", "carrier_requests", "phone_numbers:read"),
        "calls": ("list", "calls_lists", "calls:read"),
        "call": ("lookup", "calls_details", "calls:read"),
        "campaigns": ("list", "campaign_requests", "campaigns:read"),
        "campaign": ("lookup", "campaign_requests", "campaigns:read"),
        "other": ("other", None, None),
    }

    @staticmethod
    def route(path):
        """(route name, match of the id pattern or None) of a /v1 path."""
        if path == LIST_PATH:
            return "phone_numbers", None
        if path == CARRIERS_PATH:
            return "carriers", None
        if path == CALLS_PATH:
            return "calls", None
        if path == CAMPAIGNS_PATH:
            return "campaigns", None
        for name, regex in (("phone_number", LOOKUP_PATH_RE), ("call", CALL_PATH_RE),
                            ("campaign", CAMPAIGN_PATH_RE)):
            m = regex.match(path)
            if m:
                return name, m
        return "other", None

    def api(self, path):
        route, m = self.route(path)
        kind, counter, scope = self.ROUTES[route]
        state = self.server.state
        latency_ms, generation, limited = state.begin(
            self, kind, "%s %s" % (self.command, self.path), counter)
        status, fault = None, False
        try:
            if limited is not None:
                # Beyond the rate limit: answered at once, before the latency
                # sleep, the fault rules and the key.  The body is still read
                # (and dropped) so that a kept-alive connection stays in step;
                # an unusable one closes the connection after the 429.
                self.read_body(DISCARD_BODY_MAX)
                resp = rate_limited_answer(limited)
                self.send(resp)
                status = resp.status
                return
            if self.read_body(DISCARD_BODY_MAX) is None:
                resp = problem(400, "Invalid request", "Request bodies are not accepted here.")
                self.send(resp)
                status = resp.status
                return
            if latency_ms:
                time.sleep(latency_ms / 1000.0)
            rule = state.take_rule(kind, self.path, after_auth=False)
            auth_problem = self.check_auth(scope)
            if rule is None and auth_problem is None:
                rule = state.take_rule(kind, self.path, after_auth=True)
            if rule is not None:
                fault = True
                status = self.serve_fault(rule, lambda: auth_problem or self.api_answer(route, m))
                return
            resp = auth_problem or self.api_answer(route, m)
            if resp.status == 200:
                resp = state.maybe_chaos(resp) or resp
                fault = resp.kind == "chaos"
            self.send(resp)
            status = resp.status
        finally:
            state.end(generation, kind, status, fault, limited is not None)

    def check_auth(self, scope):
        """None if the request carries the configured key (or a limited key
        that has `scope`), else the problem.  tc_noscope_key also gets its 403
        on paths that are no endpoint (scope None), as it always has."""
        value = self.headers.get("Authorization", "")
        scheme, _, key = value.strip().partition(" ")
        key = key.strip()
        if scheme.lower() == "bearer" and key:
            given = key.encode("utf-8", "surrogateescape")
            for limited, lacking in LIMITED_KEYS:
                if hmac.compare_digest(given, limited.encode()):
                    if scope == lacking or (scope is None and limited == NOSCOPE_KEY):
                        return problem(403, "Forbidden",
                                       "This API key lacks the %s scope." % lacking)
                    return None
            expected = self.server.state.snapshot_config()["api_key"]
            if hmac.compare_digest(key.encode("utf-8", "surrogateescape"), expected.encode("utf-8")):
                return None
        return problem(401, "Unauthorized", "Missing or invalid API key.",
                       headers=[("WWW-Authenticate", 'Bearer realm="topcalls"')])

    def api_answer(self, route, match):
        """The normal (fault-free) answer to an authorized /v1 request."""
        if self.command != "GET":
            return problem(405, "Method Not Allowed", "Only GET is supported here.",
                           headers=[("Allow", "GET")])
        query = urllib.parse.urlsplit(self.path).query
        if route == "phone_number":
            return self.lookup(urllib.parse.unquote(match.group(1)))
        if route == "phone_numbers":
            return self.list_page(query)
        if route == "calls":
            return self.calls_page(query)
        if route == "call":
            return self.call_detail(urllib.parse.unquote(match.group(1)))
        if route == "campaigns":
            return self.small_list(query, "campaigns")
        if route == "campaign":
            return self.campaign_detail(urllib.parse.unquote(match.group(1)))
        if route == "carriers":
            return self.small_list(query, "carriers")
        return problem(404, "Not Found", "No such resource.")

    def lookup(self, phone_number_id):
        if not UUID_RE.match(phone_number_id):
            return problem(400, "Invalid request", "phone_number_id must be a UUID.",
                           [{"path": "phone_number_id", "message": "must be a UUID"}])
        state = self.server.state
        count = state.snapshot_config()["count"]
        i = PhoneNumbers.index_of(phone_number_id)
        if i is None or not 1 <= i <= count:
            return problem(404, "Not Found", "Phone number not found.")
        return Response(200, state.data.row(i), "application/json")

    def list_page(self, query):
        def bad(param, message):
            return problem(400, "Invalid request", "%s %s." % (param, message),
                           [{"path": param, "message": message}])

        params = {}
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            if name in params and name in ("limit", "cursor"):
                return bad(name, "must be given at most once")
            params[name] = value
        limit = 50
        if "limit" in params:
            text = params["limit"]
            if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 200:
                return bad("limit", "must be an integer between 1 and 200")
            limit = int(text)
        offset = 0
        if "cursor" in params:
            offset = decode_cursor(params["cursor"])
            if offset is None:
                return bad("cursor", "is not a valid cursor")
        state = self.server.state
        count = state.snapshot_config()["count"]
        first, last = offset + 1, min(offset + limit, count)
        rows = state.data.rows(first, last) if first <= last else b""
        if offset + limit < count:
            nxt = b'"' + encode_cursor(offset + limit).encode("ascii") + b'"'
        else:
            nxt = b"null"
        body = b'{"data":[' + rows + b'],"next_cursor":' + nxt + b"}"
        return Response(200, body, "application/json")

    @staticmethod
    def bad_param(param, message):
        return problem(400, "Invalid request", "%s %s." % (param, message),
                       [{"path": param, "message": message}])

    def calls_page(self, query):
        """GET /v1/calls: newest first, timestamp cursors (see the docstring)."""
        bad = self.bad_param
        params = {}
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            if name not in ("limit", "cursor", "status", "campaign_id"):
                return problem(400, "Invalid request", "unknown parameter %s." % name,
                               [{"path": name, "message": "unknown parameter"}])
            if name in params:
                return bad(name, "must be given at most once")
            params[name] = value
        limit = 50
        if "limit" in params:
            text = params["limit"]
            if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 200:
                return bad("limit", "must be an integer between 1 and 200")
            limit = int(text)
        cursor_us = None
        if "cursor" in params:
            cursor_us = parse_timestamp_us(params["cursor"])
            if cursor_us is None:
                return bad("cursor", "must be an ISO 8601 timestamp")
        status = params.get("status")
        if status is not None and status not in Calls.FILTER_STATUSES:
            return problem(400, "Invalid request",
                           "status %s is not one of %s." % (dumps(status),
                                                            ", ".join(Calls.FILTER_STATUSES)),
                           [{"path": "status",
                             "message": "must be one of %s" % ", ".join(Calls.FILTER_STATUSES)}])
        campaign_id = params.get("campaign_id")
        if campaign_id is not None and not UUID_RE.match(campaign_id):
            return bad("campaign_id", "must be a UUID")

        config = self.server.state.snapshot_config()
        n = config["calls"]
        sel = CallSelection(n, Calls.residues(status, campaign_id))
        if cursor_us is None:
            top = n
        else:
            # created_at(i) = BASE_CALLS + (i // 2) min <= T  <=>  i // 2 <= m  <=>  i <= 2m + 1
            m = cursor_us // 60_000_000
            top = 2 * m + 1 if m >= 0 else 0
        c = sel.count_upto(top)         # the page is kept calls c-1, c-2, ... (0-based, ascending)
        take = min(limit, c)
        if take and c - take and not config["page_repeat"]:
            # Do not split the last timestamp group across pages (unless it is the whole page).
            group = sel.at(c - take) // 2
            if sel.at(c - take - 1) // 2 == group:
                j = c - take
                while j < c and sel.at(j) // 2 == group:
                    j += 1
                if j < c:
                    take = c - j
        if sel.positions is None:
            indices = range(c, c - take, -1)
        else:
            indices = [sel.at(k) for k in range(c - 1, c - take - 1, -1)]
        rows = self.server.state.calls.items(indices, config["list_omits"])
        if c - take > 0:
            last = Calls.created_at(sel.at(c - take))
            if config["page_repeat"]:
                nxt = utc_text(last)
            else:
                nxt = utc_text(last - datetime.timedelta(milliseconds=1), millis=True)
            nxt = b'"' + nxt.encode("ascii") + b'"'
        else:
            nxt = b"null"
        body = b'{"data":[' + rows + b'],"next_cursor":' + nxt + b"}"
        return Response(200, body, "application/json")

    def call_detail(self, call_id):
        if not UUID_RE.match(call_id):
            return problem(400, "Invalid request", "call_id must be a UUID.",
                           [{"path": "call_id", "message": "must be a UUID"}])
        state = self.server.state
        config = state.snapshot_config()
        i = Calls.index_of(call_id)
        if i is None or not 1 <= i <= config["calls"]:
            return problem(404, "Not Found", "Call not found.")
        return Response(200, state.calls.detail(i, config["detail_omits"]), "application/json")

    def campaign_detail(self, campaign_id):
        if not UUID_RE.match(campaign_id):
            return problem(400, "Invalid request", "campaign_id must be a UUID.",
                           [{"path": "campaign_id", "message": "must be a UUID"}])
        config = self.server.state.snapshot_config()
        k = Calls.campaign_number(campaign_id)
        if k is None or not 1 <= k <= config["campaigns"]:
            return problem(404, "Not Found", "Campaign not found.")
        return json_response(200, Campaigns.build(k, config["calls"]))

    def small_list(self, query, which):
        """GET /v1/campaigns or /v1/phone-numbers/carriers, in config list_shape:
        the envelope with offset cursors (validated like the phone numbers'),
        a bare array or an envelope without next_cursor (both: every item,
        limit and cursor ignored).  Other parameters are ignored."""
        config = self.server.state.snapshot_config()
        if which == "campaigns":
            total, prefix = config["campaigns"], CAMPAIGNS_CURSOR_PREFIX
            calls = config["calls"]

            def build(k):
                return Campaigns.build(k, calls)
        else:
            total, prefix, build = config["carriers"], CARRIERS_CURSOR_PREFIX, Carriers.build
        shape = config["list_shape"]
        if shape != "envelope":
            items = [build(k) for k in range(1, total + 1)]
            return json_response(200, items if shape == "array" else {"data": items})
        params = {}
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            if name in params and name in ("limit", "cursor"):
                return self.bad_param(name, "must be given at most once")
            params[name] = value
        limit = 50
        if "limit" in params:
            text = params["limit"]
            if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 200:
                return self.bad_param("limit", "must be an integer between 1 and 200")
            limit = int(text)
        offset = 0
        if "cursor" in params:
            offset = decode_cursor(params["cursor"], prefix)
            if offset is None:
                return self.bad_param("cursor", "is not a valid cursor")
        items = [build(k) for k in range(offset + 1, min(offset + limit, total) + 1)]
        nxt = encode_cursor(offset + limit, prefix) if offset + limit < total else None
        return json_response(200, {"data": items, "next_cursor": nxt})

    def serve_fault(self, rule, normal):
        """Answer (or not) as the rule says; the status sent, or None."""
        if rule.delay_ms:
            time.sleep(rule.delay_ms / 1000.0)
        if rule.close:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        if rule.redirect is not None:
            resp = Response(302, b"", None, [("Location", rule.redirect)])
        elif rule.status is not None:
            resp = self.fault_status_answer(rule, normal)
        elif rule.body_bytes is not None:
            resp = Response(200, content_type="application/json",
                            stream=body_of_bytes(rule.body_bytes))
        elif rule.gzip_bomb is not None:
            resp = Response(200, gzip_bomb(rule.gzip_bomb), "application/json",
                            [("Content-Encoding", "gzip")])
        else:
            resp = normal()
            if rule.replace_body is not None:
                resp = Response(resp.status, rule.replace_body.encode("utf-8", "surrogateescape"),
                                resp.content_type, resp.headers)
            elif rule.empty_data and resp.status == 200:
                doc = json.loads(resp.body)
                if isinstance(doc, dict) and "data" in doc:
                    doc["data"] = []
                resp = Response(resp.status, dumps(doc).encode("utf-8"),
                                resp.content_type, resp.headers)
        resp.headers = [h for h in resp.headers
                        if h[0].lower() not in {n.lower() for n, _ in rule.headers}] + rule.headers
        resp.kind = "fault"
        self.send(resp, truncate=rule.truncate, trickle=rule.trickle)
        return resp.status

    @staticmethod
    def fault_status_answer(rule, normal):
        status = rule.status
        if rule.body is not None:
            ctype = rule.content_type or ("text/html" if status >= 400 else "application/json")
            return Response(status, rule.body.encode("utf-8"), ctype)
        if rule.has_json:
            ctype = rule.content_type or ("application/problem+json" if status >= 400
                                          else "application/json")
            return Response(status, dumps(rule.spec["json"]).encode("utf-8"), ctype)
        if status >= 400:
            # No body given: a problem+json like the real API's.
            resp = problem(status, reason_phrase(status), "Injected fault.")
        else:
            # No body given: the normal answer's body under this status.
            base = normal()
            resp = Response(status, base.body, base.content_type)
        if rule.content_type:
            resp.content_type = rule.content_type
        return resp

    # -- /_admin ------------------------------------------------------------

    def admin(self, path):
        state = self.server.state
        body = self.read_body(ADMIN_BODY_MAX)
        if body is None:
            self.send(json_response(400, {"error": "unusable request body"}))
            return
        getters = {
            "/_admin/health": lambda: {"ok": True},
            "/_admin/stats": state.stats_json,
            "/_admin/requests": state.requests_json,
            "/_admin/config": state.public_config,
            "/_admin/faults": state.rules_json,
            "/_admin/chaos": state.chaos_json,
        }
        setters = {
            "/_admin/reset": lambda doc: state.reset(),
            "/_admin/config": state.set_config,
            "/_admin/faults": state.set_rules,
            "/_admin/chaos": state.set_chaos,
        }
        if path not in getters and path not in setters:
            self.send(json_response(404, {"error": "no such admin endpoint"}))
            return
        if self.command in ("GET", "HEAD") and path in getters:
            self.send(json_response(200, getters[path]()))
            return
        if self.command == "POST" and path in setters:
            doc = None
            if body.strip():
                try:
                    doc = json.loads(body)
                except ValueError as e:
                    self.send(json_response(400, {"error": "bad JSON: %s" % e}))
                    return
            elif path != "/_admin/reset":
                self.send(json_response(400, {"error": "a JSON body is required"}))
                return
            try:
                setters[path](doc)
            except RuleError as e:
                self.send(json_response(400, {"error": str(e)}))
                return
            answer = getters.get(path, lambda: {"ok": True})()
            self.send(json_response(200, answer))
            return
        allowed = ", ".join((["GET"] if path in getters else []) + (["POST"] if path in setters else []))
        self.send(json_response(405, {"error": "method not allowed"}, headers=[("Allow", allowed)]))


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------

class StandinServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, host, port, state, idle_timeout, tls_context=None):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.state = state
        self.idle_timeout = idle_timeout
        super().__init__((host, port), StandinHandler)
        if tls_context is not None:
            self.socket = tls_context.wrap_socket(self.socket, server_side=True,
                                                  do_handshake_on_connect=False)

    def server_bind(self):
        # HTTPServer.server_bind would call socket.getfqdn() (a DNS lookup).
        http.server.socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):
            return
        traceback.print_exc()


def parse_args(argv):
    p = argparse.ArgumentParser(description="Stand-in TopCalls API server for topcalls_fdw tests.")
    p.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (default), ::1 or localhost")
    p.add_argument("--port", type=int, default=0, help="0 (default) picks a free port")
    p.add_argument("--port-file", help="write the port number here once listening")
    p.add_argument("--count", type=int, default=50, help="phone numbers served (default 50)")
    p.add_argument("--calls", type=int, default=60, help="calls served (default 60)")
    p.add_argument("--latency-ms", type=float, default=0, help="delay before each /v1 answer")
    p.add_argument("--api-key", default="tc_test_key", help="the accepted bearer key")
    p.add_argument("--tls-cert", help="PEM certificate (chain): serve HTTPS")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument("--idle-timeout", type=float, default=300,
                   help="close keep-alive connections idle this many seconds "
                        "(default 300; 0: never)")
    p.add_argument("--quiet", action="store_true", help="print only the listening line and chaos seeds")
    args = p.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        p.error("--host must be 127.0.0.1, ::1 or localhost")
    if args.host == "localhost":
        args.host = "127.0.0.1"
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if (args.count < 0 or args.calls < 0 or args.latency_ms < 0 or args.idle_timeout < 0
            or not 0 <= args.port <= 65535):
        p.error("--count, --calls, --latency-ms and --port must not be negative")
    if args.calls > 10 ** 9:
        p.error("--calls must be at most 1000000000")
    if not args.api_key:
        p.error("--api-key must not be empty")
    return args


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        tls.set_alpn_protocols(["http/1.1"])
    state = StandinState(args.count, args.latency_ms, args.api_key, args.quiet, args.calls)
    state.data.warm(args.count)     # before announcing the port: see warm()
    state.calls.warm(args.calls)
    server = StandinServer(args.host, args.port, state, args.idle_timeout, tls)
    port = server.server_address[1]

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="standin-accept", daemon=True)
    thread.start()
    if args.port_file:
        write_port_file(args.port_file, port)
    print("standin listening on %d" % port, flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    state.say("standin: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
