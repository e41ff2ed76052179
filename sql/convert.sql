--
-- JSON fields to columns, through the columns' input functions.
--
-- JSON null and missing fields give NULL; unknown fields are ignored
SELECT id, phone_number_sid, voip_carrier_sid, carrier_name, label, error_message,
       created_by_user_id
  FROM topcalls_phone_numbers
  WHERE id = ANY ('{00000000-0000-4000-8000-000000000003,
                    00000000-0000-4000-8000-000000000004,
                    00000000-0000-4000-8000-000000000007,
                    00000000-0000-4000-8000-000000000010}')
  ORDER BY id;

-- timestamps keep their offsets: the same instants in any TimeZone
SET TimeZone = 'UTC';
SELECT id, created_at, updated_at FROM topcalls_phone_numbers
  WHERE id = ANY ('{00000000-0000-4000-8000-000000000001,
                    00000000-0000-4000-8000-000000000006,
                    00000000-0000-4000-8000-000000000009}')
  ORDER BY id;
SET TimeZone = 'America/New_York';
SELECT id, created_at, created_at AT TIME ZONE 'UTC' AS created_utc FROM topcalls_phone_numbers
  WHERE id = ANY ('{00000000-0000-4000-8000-000000000001,
                    00000000-0000-4000-8000-000000000006,
                    00000000-0000-4000-8000-000000000009}')
  ORDER BY id;
SELECT count(*) FROM topcalls_phone_numbers
  WHERE created_at = '2023-11-07 07:37:56+02'::timestamptz;
RESET TimeZone;

-- a timestamp (without time zone) column gets the instant's UTC time, so
-- it agrees with a timestamptz column read with TimeZone UTC, whatever the
-- offset the API wrote (rows 6, 12, ... have +02:00) and the session's
-- TimeZone; a date column gets the UTC date
CREATE FOREIGN TABLE phone_numbers_times (
  id uuid,
  created_local timestamp OPTIONS (field 'created_at'),
  created_ms timestamp(0) OPTIONS (field 'created_at'),
  created_tz timestamptz OPTIONS (field 'created_at'),
  created_day date OPTIONS (field 'created_at')
) SERVER topcalls;
SET TimeZone = 'Asia/Tokyo';
SELECT id, created_local, created_ms, created_day, created_tz AT TIME ZONE 'UTC' AS utc_of_tz
  FROM phone_numbers_times
  WHERE id = ANY ('{00000000-0000-4000-8000-000000000001,
                    00000000-0000-4000-8000-000000000006,
                    00000000-0000-4000-8000-000000000009}')
  ORDER BY id;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE created_local = created_tz AT TIME ZONE 'UTC') AS agree,
       count(*) FILTER (WHERE created_day = (created_tz AT TIME ZONE 'UTC')::date) AS same_day
  FROM phone_numbers_times;
-- sorted by the timestamp column, the rows are in the order of the instants
SELECT bool_and(ok) AS in_order FROM (
  SELECT created_tz >= lag(created_tz) OVER (ORDER BY created_local, id) AS ok
    FROM phone_numbers_times) s;
-- a value without an offset is taken as it is, and infinity stays infinity
SELECT standin_faults('[{"kind": "lookup", "replace_body":
  "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"created_at\": \"2026-01-01T10:00:00\"}"},
  {"kind": "list", "replace_body":
  "{\"data\": [{\"id\": \"00000000-0000-4000-8000-000000000002\", \"created_at\": \"infinity\"}], \"next_cursor\": null}"}]');
SELECT created_local, created_day FROM phone_numbers_times
  WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT created_local, created_day FROM phone_numbers_times;
-- a value that is no time at all names the column
SELECT standin_faults('[{"kind": "lookup", "replace_body":
  "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"created_at\": \"yesterday-ish\"}"}]');
SELECT created_local FROM phone_numbers_times
  WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_faults('[]');
RESET TimeZone;
DROP FOREIGN TABLE phone_numbers_times;

-- any subset of the fields, any order, other names, other types
CREATE TYPE phone_status AS ENUM ('active', 'inactive', 'pending', 'failed', 'deleted');
CREATE DOMAIN e164 AS text CHECK (VALUE ~ '^\+[1-9][0-9]{1,14}$');
CREATE FOREIGN TABLE phone_numbers_typed (
  status phone_status,
  created date OPTIONS (field 'created_at'),
  created_local timestamp OPTIONS (field 'created_at'),
  phone e164 OPTIONS (field 'number'),
  id varchar(36),
  label varchar(20),
  doc jsonb OPTIONS (field '*'),
  raw json OPTIONS (field '*'),
  extra jsonb OPTIONS (field 'extra_field'),
  extra_text text OPTIONS (field 'extra_field'),
  not_there boolean OPTIONS (field 'no_such_field')
) SERVER topcalls;
SET TimeZone = 'UTC';
SELECT status, created, created_local, phone, id, label, extra, extra_text, not_there
  FROM phone_numbers_typed WHERE id = '00000000-0000-4000-8000-000000000005';
SELECT doc->>'number' AS number, doc->'extra_field' AS extra, doc ? 'label' AS has_label,
       raw::jsonb = doc AS same
  FROM phone_numbers_typed WHERE id = '00000000-0000-4000-8000-000000000007';
SELECT status, count(*) FROM phone_numbers_typed GROUP BY status ORDER BY status;
RESET TimeZone;
ALTER FOREIGN TABLE phone_numbers_typed DROP COLUMN raw;
SELECT phone, extra FROM phone_numbers_typed WHERE id = '00000000-0000-4000-8000-000000000005';

-- numbers and booleans through their input functions
SELECT standin_faults('[{"kind": "lookup", "replace_body":
  "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"n\": 42, \"big\": 12345678901234567890, \"f\": 1.5e3, \"ok\": true, \"no\": false, \"s\": \"\\u00e9t\\u00e9 \\ud83d\\ude00\"}"}]');
CREATE FOREIGN TABLE typed_values (
  id uuid, n int OPTIONS (field 'n'), big numeric OPTIONS (field 'big'),
  f float8 OPTIONS (field 'f'), ok boolean OPTIONS (field 'ok'),
  no boolean OPTIONS (field 'no'), s text OPTIONS (field 's'), n_text text OPTIONS (field 'n')
) SERVER topcalls;
SELECT n, big, f, ok, no, s = U&'\00e9t\00e9 \+01F600' AS s_is_ete_grin, n_text FROM typed_values WHERE id = '00000000-0000-4000-8000-000000000001';

-- a value that does not fit is an ERROR naming the column, table and value
SELECT standin_faults('[{"kind": "lookup", "replace_body":
  "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"n\": \"forty-two\"}"}]');
SELECT n FROM typed_values WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_faults('[{"kind": "lookup", "replace_body":
  "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"n\": 99999999999}"}]');
SELECT n FROM typed_values WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_faults('[{"kind": "lookup", "replace_body":
  "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"s\": \"x\", \"ok\": \"definitely not a boolean, and a rather long value that goes on and on and on\"}"}]');
SELECT ok FROM typed_values WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_faults('[{"kind": "lookup", "replace_body":
  "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"status\": \"archived\"}"}]');
SELECT status FROM phone_numbers_typed WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_faults('[{"kind": "lookup", "replace_body":
  "{\"id\": \"not-a-uuid\"}"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_faults('[{"kind": "lookup", "replace_body":
  "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"number\": \"555-1234\"}"}]');
SELECT phone FROM phone_numbers_typed WHERE id = '00000000-0000-4000-8000-000000000001';
-- a NUL character in a string
SELECT standin_faults('[{"kind": "lookup", "replace_body":
  "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"s\": \"a\\u0000b\"}"}]');
SELECT s FROM typed_values WHERE id = '00000000-0000-4000-8000-000000000001';
-- a list page with a bad row fails the same way
SELECT standin_faults('[{"kind": "list", "replace_body":
  "{\"data\": [{\"id\": \"00000000-0000-4000-8000-000000000001\"}, {\"id\": \"bad\"}], \"next_cursor\": null}"}]');
SELECT id FROM topcalls_phone_numbers;
SELECT standin_faults('[]');
-- the session still works
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';

-- timestamps: the API's own form is read without timestamptz_in, which must
-- give the same instant; any other form goes to timestamptz_in (no offset:
-- the session's time zone; seven digits of a second: its rounding).  A
-- timestamp column reads a text without an offset as UTC (see the README),
-- so same_utc is false for that row only.
SET TimeZone = 'America/New_York';
CREATE FOREIGN TABLE instants (id uuid, t timestamptz OPTIONS (field 't'),
  t_utc timestamp OPTIONS (field 't'), t_text text OPTIONS (field 't'))
  SERVER topcalls;
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": ['
  '{\"id\": \"00000000-0000-4000-8000-000000000001\", \"t\": \"2024-02-29T23:59:59Z\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000002\", \"t\": \"2024-03-01T01:02:03.5+05:30\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000003\", \"t\": \"2024-03-01T01:02:03.123456-11:45\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000004\", \"t\": \"2024-03-01T01:02:03.1234567Z\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000005\", \"t\": \"2024-03-01T01:02:03\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000006\", \"t\": \"2024-03-01 01:02:03+00\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000007\", \"t\": \"0001-01-01T00:00:00Z\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000008\", \"t\": \"9999-12-31T23:59:59.999999+15:59\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000009\", \"t\": \"2024-07-01T12:00:00\\u002B02:00\"}],'
  '\"next_cursor\": null}"}]');
SELECT t_text, t, t = t_text::timestamptz AS same_instant,
       t_utc = (t_text::timestamptz AT TIME ZONE 'UTC') AS same_utc
  FROM instants ORDER BY id;
-- a date that does not exist is timestamptz_in's error, not another date
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": ['
  '{\"id\": \"00000000-0000-4000-8000-000000000001\", \"t\": \"2023-02-29T00:00:00Z\"}],'
  '\"next_cursor\": null}"}]');
SELECT t FROM instants;
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": ['
  '{\"id\": \"00000000-0000-4000-8000-000000000001\", \"t\": \"2023-01-01T24:00:01Z\"}],'
  '\"next_cursor\": null}"}]');
SELECT t FROM instants;
SELECT standin_faults('[]');
RESET TimeZone;
DROP FOREIGN TABLE instants;

-- JSON values: keys are compared unescaped, the last of a repeated key
-- wins (as in jsonb), json columns get the value's text as the API wrote it
CREATE FOREIGN TABLE json_values (id uuid, s text OPTIONS (field 'a"b'),
  j json OPTIONS (field 'j'), jb jsonb OPTIONS (field 'j'), whole jsonb OPTIONS (field '*'))
  SERVER topcalls;
SELECT standin_faults('[{"kind": "lookup", "replace_body":
  "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"a\\u0022b\": \"first\", \"j\": { \"x\" : [1, 2.50, \"\\u00e9\"] }, \"a\\\"b\": \"second\"}"}]');
SELECT s, j, jb, whole FROM json_values WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_faults('[]');
DROP FOREIGN TABLE json_values;

-- fields are matched by key whatever the order of a row's keys: keys moved
-- from one row to the next, a key repeated (the last wins) after rows that
-- had it once, a key escaped in one row only, an extra key that shifts the
-- others, a row with only its id; two columns of one field share its value
CREATE FOREIGN TABLE key_orders (id uuid, a text OPTIONS (field 'a'),
  b text OPTIONS (field 'b'), b_again text OPTIONS (field 'b'),
  c integer OPTIONS (field 'c'))
  SERVER topcalls;
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": ['
  '{\"id\": \"00000000-0000-4000-8000-000000000001\", \"a\": \"a1\", \"b\": \"b1\", \"c\": 1},'
  '{\"b\": \"b2\", \"id\": \"00000000-0000-4000-8000-000000000002\", \"c\": 2, \"a\": \"a2\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000003\", \"a\": \"a3\", \"b\": \"b3\", \"c\": 3, \"b\": \"b3 last\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000004\", \"\\u0061\": \"a4\", \"b\": \"b4\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000005\", \"x\": 0, \"a\": \"a5\", \"b\": \"b5\", \"c\": 5},'
  '{\"id\": \"00000000-0000-4000-8000-000000000006\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000007\", \"a\": \"a7\", \"b\": \"b7\", \"c\": 7},'
  '{\"id\": \"00000000-0000-4000-8000-000000000008\", \"\\u0061\": \"a8\", \"b\": \"b8\", \"c\": 8},'
  '{\"id\": \"00000000-0000-4000-8000-000000000009\", \"a\": \"a9\", \"b\": \"b9\", \"c\": 9}],'
  '\"next_cursor\": null}"}]');
SELECT id, a, b, b_again, c FROM key_orders ORDER BY id;
SELECT standin_faults('[]');
-- strings are scanned sixteen and eight bytes at a time: stop bytes (an
-- escaped quote, an escaped backslash, a raw control character) on either
-- side of those boundaries are all seen
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": ['
  '{\"id\": \"00000000-0000-4000-8000-000000000001\", \"a\": \"0123456789abcde\\\"0123456789abcdef\\\\0123456789abcd\\u00e9-end\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000002\", \"a\": \"0123456789abcdef0123456789abcdef01234567\"}],'
  '\"next_cursor\": null}"}]');
SELECT id, a, length(a) FROM key_orders ORDER BY id;
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": ['
  '{\"id\": \"00000000-0000-4000-8000-000000000001\", \"a\": \"0123456789abcdef0\tx\"}],'
  '\"next_cursor\": null}"}]');
SELECT id, a FROM key_orders;
-- and a raw control character as the 16th or the 17th byte of a string
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": ['
  '{\"id\": \"00000000-0000-4000-8000-000000000001\", \"a\": \"0123456789abcde\nx\"}],'
  '\"next_cursor\": null}"}]');
SELECT id, a FROM key_orders;
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": ['
  '{\"id\": \"00000000-0000-4000-8000-000000000001\", \"a\": \"0123456789abcdef\u0001\"}],'
  '\"next_cursor\": null}"}]');
SELECT id, a FROM key_orders;
SELECT standin_faults('[]');
DROP FOREIGN TABLE key_orders;

-- more members than there are key hints (64), and a key longer than a hint
-- holds (48 bytes), at positions that move from row to row
CREATE FOREIGN TABLE wide_rows (id uuid,
  long_key text OPTIONS (field 'a_key_longer_than_the_forty_eight_bytes_of_a_hint'),
  last text OPTIONS (field 'last'), f3 integer OPTIONS (field 'f3'))
  SERVER topcalls;
WITH filler AS (
  SELECT string_agg(format('"f%s": %s', n, n), ', ' ORDER BY n) AS f
    FROM generate_series(1, 70) AS n),
rows AS (
  SELECT format('{"id": "00000000-0000-4000-8000-000000000001", %s, '
                '"a_key_longer_than_the_forty_eight_bytes_of_a_hint": "long 1", "last": "last 1"}', f) AS r1,
         format('{"id": "00000000-0000-4000-8000-000000000002", '
                '"a_key_longer_than_the_forty_eight_bytes_of_a_hint": "long 2", %s, "last": "last 2"}', f) AS r2,
         format('{"id": "00000000-0000-4000-8000-000000000003", %s, '
                '"a_key_longer_than_the_forty_eight_bytes_of_a_hint": "long 3", "last": "last 3"}', f) AS r3,
         format('{"id": "00000000-0000-4000-8000-000000000004", "last": "last 4", %s}', f) AS r4
    FROM filler)
SELECT standin_faults(json_build_array(json_build_object('kind', 'list',
  'replace_body', format('{"data": [%s, %s, %s, %s], "next_cursor": null}', r1, r2, r3, r4)))::jsonb)
  FROM rows;
SELECT id, long_key, last, f3 FROM wide_rows ORDER BY id;
SELECT standin_faults('[]');
DROP FOREIGN TABLE wide_rows;

-- uuids: the canonical form of either case is read without uuid_in, which
-- must give the same value; the other forms it accepts go to it, and so do
-- those it refuses, with its own error
CREATE FOREIGN TABLE uuid_forms (id uuid, u uuid OPTIONS (field 'u'),
  u_text text OPTIONS (field 'u'))
  SERVER topcalls;
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": ['
  '{\"id\": \"00000000-0000-4000-8000-000000000001\", \"u\": \"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000002\", \"u\": \"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A1F\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000003\", \"u\": \"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000004\", \"u\": \"a0eebc999c0b4ef8bb6d6bb9bd380a11\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000005\", \"u\": \"a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11\"},'
  '{\"id\": \"00000000-0000-4000-8000-000000000006\", \"u\": \"ffffffff-ffff-ffff-ffff-ffffffffffff\"}],'
  '\"next_cursor\": null}"}]');
SELECT u_text, u, u = u_text::uuid AS same_uuid FROM uuid_forms ORDER BY id;
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": ['
  '{\"id\": \"00000000-0000-4000-8000-000000000001\", \"u\": \"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g\"}],'
  '\"next_cursor\": null}"}]');
SELECT u FROM uuid_forms;
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": ['
  '{\"id\": \"00000000-0000-4000-8000-000000000001\", \"u\": \"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-\"}],'
  '\"next_cursor\": null}"}]');
SELECT u FROM uuid_forms;
SELECT standin_faults('[]');
DROP FOREIGN TABLE uuid_forms;

DROP FOREIGN TABLE phone_numbers_typed, typed_values;
DROP DOMAIN e164;
DROP TYPE phone_status;
