#!/usr/bin/env bash
# test/check-latin1.sh: text from the API (UTF-8) in a LATIN1 database.
#
#   - a non-ASCII character LATIN1 has (é), escaped or raw in the JSON,
#     arrives as that character (one LATIN1 byte);
#   - a character LATIN1 cannot hold (an emoji) is a clear ERROR naming the
#     column and table, in a lookup and in the middle of a list page;
#   - invalid UTF-8 in the body is rejected as invalid JSON (a raw 0xFF
#     byte; t/003_json_strict.pl has the subtler forms);
#   - an error page with non-ASCII text gives a message LATIN1 can show;
#   - after each error the session works.
#
# Run by test/run-tests.sh (as postgres, with TC_PGHOST, TC_PGPORT and
# TC_API_URL set).  Prints what psql printed and compares it with the
# expected text below; exits non-zero on any difference.
set -euo pipefail

: "${TC_PGHOST:?run me from test/run-tests.sh}" "${TC_PGPORT:?}" "${TC_API_URL:?}"

PSQL=(psql -X -h "$TC_PGHOST" -p "$TC_PGPORT" -U postgres)
DB_LATIN1=tc_check_latin1
DB_UTF8=tc_check_utf8

# The stand-in's admin API.  Fault rules go in as JSON text, with curl: the
# invalid-UTF-8 rules use "\udcff", which the stand-in turns into a raw 0xFF
# byte, and which no SQL json/jsonb value can carry.
standin() {
	curl -sS --fail --max-time 30 -X POST -H 'Content-Type: application/json' \
		--data-binary "$2" "$TC_API_URL/_admin/$1" >/dev/null
}

cleanup() {
	standin reset '{}' || true
	"${PSQL[@]}" -q -d postgres -c "DROP DATABASE IF EXISTS $DB_LATIN1 WITH (FORCE)" \
		-c "DROP DATABASE IF EXISTS $DB_UTF8 WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"${PSQL[@]}" -q -v ON_ERROR_STOP=1 -d postgres <<SQL
SET client_min_messages = warning;
DROP DATABASE IF EXISTS $DB_LATIN1 WITH (FORCE);
DROP DATABASE IF EXISTS $DB_UTF8 WITH (FORCE);
CREATE DATABASE $DB_LATIN1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE $DB_UTF8 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
SQL

for db in "$DB_LATIN1" "$DB_UTF8"; do
	"${PSQL[@]}" -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
CREATE EXTENSION topcalls_fdw;
CREATE SERVER topcalls FOREIGN DATA WRAPPER topcalls_fdw
  OPTIONS (base_url '$TC_API_URL', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE pn (id uuid, number text, label text) SERVER topcalls;
SQL
done
standin reset '{}'

ID1=00000000-0000-4000-8000-000000000001
ID2=00000000-0000-4000-8000-000000000002
LOOKUP="SELECT number, label FROM pn WHERE id = '$ID1';"
BYTES="SELECT label, convert_to(label, 'LATIN1') AS latin1_bytes FROM pn WHERE id = '$ID1';"

# Runs SQL in a database with the output in UTF-8, errors in the stream, and
# the "psql:<stdin>:N: " prefixes removed.
run() {
	local db=$1 sql=$2
	printf '%s\n' "$sql" |
		PGCLIENTENCODING=UTF8 "${PSQL[@]}" -q -A -d "$db" -v VERBOSITY=default 2>&1 |
		sed -E 's/^psql:[^:]*:[0-9]+: //'
}

# One case: a title, fault rules, SQL.
case_() {
	local title=$1 db=$2 rules=$3 sql=$4
	echo "-- $title"
	standin faults "$rules"
	run "$db" "$sql"
}

actual=$(
	echo "-- database encoding"
	run "$DB_LATIN1" "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database();"

	case_ "é escaped as \\u00e9: one LATIN1 byte" "$DB_LATIN1" \
		'[{"kind": "lookup", "replace_body": "{\"id\": \"'$ID1'\", \"number\": \"+15550000001\", \"label\": \"Caf\\u00e9 cr\\u00e8me\"}"}]' \
		"$BYTES"
	case_ "é raw in UTF-8" "$DB_LATIN1" \
		'[{"kind": "lookup", "replace_body": "{\"id\": \"'$ID1'\", \"number\": \"+15550000001\", \"label\": \"Café crème\"}"}]' \
		"$BYTES"
	case_ "an emoji (escaped): LATIN1 cannot hold it" "$DB_LATIN1" \
		'[{"kind": "lookup", "replace_body": "{\"id\": \"'$ID1'\", \"number\": \"+15550000001\", \"label\": \"hi \\ud83d\\ude00\"}"}]' \
		"$LOOKUP"
	case_ "an emoji (raw) in the middle of a list page" "$DB_LATIN1" \
		'[{"kind": "list", "replace_body": "{\"data\": [{\"id\": \"'$ID1'\", \"label\": \"ok\"}, {\"id\": \"'$ID2'\", \"label\": \"😀\"}], \"next_cursor\": null}"}]' \
		"SELECT count(label) FROM pn;"
	case_ "a character outside LATIN1 in a column not selected: not converted, no error" "$DB_LATIN1" \
		'[{"kind": "lookup", "replace_body": "{\"id\": \"'$ID1'\", \"number\": \"+15550000001\", \"label\": \"€\"}"}]' \
		"SELECT number FROM pn WHERE id = '$ID1';"
	case_ "invalid UTF-8 (a raw 0xFF byte) in a string" "$DB_LATIN1" \
		'[{"kind": "lookup", "replace_body": "{\"id\": \"'$ID1'\", \"label\": \"caf\udcff\"}"}]' \
		"$LOOKUP"
	case_ "invalid UTF-8 (a lone continuation byte) in a list page" "$DB_LATIN1" \
		'[{"kind": "list", "replace_body": "{\"data\": [{\"id\": \"'$ID1'\", \"label\": \"\udc80\"}], \"next_cursor\": null}"}]' \
		"SELECT count(*) FROM pn;"
	case_ "an error page with non-ASCII text: shown with ? in LATIN1" "$DB_LATIN1" \
		'[{"kind": "lookup", "status": 502, "body": "<p>Service indisponible — réessayez</p>"}]' \
		"$LOOKUP"
	case_ "the same in a UTF8 database: shown as it is" "$DB_UTF8" \
		'[{"kind": "lookup", "status": 502, "body": "<p>Service indisponible — réessayez</p>"}]' \
		"$LOOKUP"
	case_ "one session: an untranslatable character, then a normal lookup" "$DB_LATIN1" \
		'[{"path_regex": "0001$", "replace_body": "{\"id\": \"'$ID1'\", \"label\": \"\\u2603\"}"}]' \
		"$LOOKUP SELECT number, label FROM pn WHERE id = '$ID2';"
	case_ "the sessions work after all that" "$DB_LATIN1" '[]' "$LOOKUP"
	run "$DB_UTF8" "$LOOKUP"
)

expected=$(cat <<'EOF'
-- database encoding
pg_encoding_to_char
LATIN1
(1 row)
-- é escaped as \u00e9: one LATIN1 byte
label|latin1_bytes
Café crème|\x436166e9206372e86d65
(1 row)
-- é raw in UTF-8
label|latin1_bytes
Café crème|\x436166e9206372e86d65
(1 row)
-- an emoji (escaped): LATIN1 cannot hold it
ERROR:  character with byte sequence 0xf0 0x9f 0x98 0x80 in encoding "UTF8" has no equivalent in encoding "LATIN1"
CONTEXT:  column "label" of foreign table "pn"
-- an emoji (raw) in the middle of a list page
ERROR:  character with byte sequence 0xf0 0x9f 0x98 0x80 in encoding "UTF8" has no equivalent in encoding "LATIN1"
CONTEXT:  column "label" of foreign table "pn"
-- a character outside LATIN1 in a column not selected: not converted, no error
number
+15550000001
(1 row)
-- invalid UTF-8 (a raw 0xFF byte) in a string
ERROR:  invalid JSON in the answer to GET /v1/phone-numbers/00000000-0000-4000-8000-000000000001
DETAIL:  The body is not valid UTF-8.
-- invalid UTF-8 (a lone continuation byte) in a list page
ERROR:  invalid JSON in the answer to GET /v1/phone-numbers?limit=200
DETAIL:  The body is not valid UTF-8.
-- an error page with non-ASCII text: shown with ? in LATIN1
ERROR:  TopCalls API request GET /v1/phone-numbers/00000000-0000-4000-8000-000000000001 failed with HTTP 502
DETAIL:  The answer was not problem+json; it began: "<p>Service indisponible ??? r??essayez</p>".
-- the same in a UTF8 database: shown as it is
ERROR:  TopCalls API request GET /v1/phone-numbers/00000000-0000-4000-8000-000000000001 failed with HTTP 502
DETAIL:  The answer was not problem+json; it began: "<p>Service indisponible — réessayez</p>".
-- one session: an untranslatable character, then a normal lookup
ERROR:  character with byte sequence 0xe2 0x98 0x83 in encoding "UTF8" has no equivalent in encoding "LATIN1"
CONTEXT:  column "label" of foreign table "pn"
number|label
+15550000002|Line 2
(1 row)
-- the sessions work after all that
number|label
+15550000001|Line 1
(1 row)
number|label
+15550000001|Line 1
(1 row)
EOF
)

echo "$actual"
if [[ $actual != "$expected" ]]; then
	echo
	echo "check-latin1: the output differs from the expected text:"
	diff -u <(echo "$expected") <(echo "$actual") || true
	exit 1
fi
echo "check-latin1: ok"
