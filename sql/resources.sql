--
-- call_transcripts, campaigns and carriers.
--
SET search_path = tc, public;
SET TimeZone = 'UTC';

-- call_transcripts: a call's turns, by call_id from GET /v1/calls/{id} ...
SELECT standin_reset();
SELECT call_id, turn_id, speaker, text, created_at FROM call_transcripts
  WHERE call_id = call_id(3) ORDER BY turn_id;
SELECT count(*) FROM call_transcripts WHERE call_id = ANY (ARRAY[call_id(1), call_id(2), call_id(998)]);
SELECT * FROM standin_requests() ORDER BY 1;
-- ... in a nested loop from a few local rows: one lookup per distinct call
CREATE TEMP TABLE picked AS SELECT call_id(i % 2 + 3) AS cid FROM generate_series(1, 4) i;
ANALYZE picked;
SELECT explain_lines($q$SELECT p.cid, t.turn_id FROM picked p JOIN call_transcripts t ON t.call_id = p.cid$q$);
SELECT standin_reset();
SELECT p.cid, count(*) FROM picked p JOIN call_transcripts t ON t.call_id = p.cid GROUP BY 1 ORDER BY 1;
SELECT * FROM standin_requests() ORDER BY 1;
-- ... or for every call, from the calls list (its items carry them)
SELECT standin_reset();
SELECT count(*), count(DISTINCT call_id), max(turn_id) FROM call_transcripts;
SELECT * FROM standin_requests();
-- a filter on the call's time needs the join with calls: the transcripts of
-- the last few minutes' calls
SELECT standin_reset();
SELECT t.call_id, t.turn_id, t.speaker FROM calls c JOIN call_transcripts t ON t.call_id = c.id
  WHERE c.created_at >= '2026-01-01 00:29:00+00' ORDER BY 1, 2;
-- the words of a conversation
SELECT c.id, string_agg(t.text, ' / ' ORDER BY t.turn_id) AS conversation
  FROM calls c JOIN call_transcripts t ON t.call_id = c.id
  WHERE c.id = call_id(3) GROUP BY c.id;

-- campaigns: the envelope, a bare array, no next_cursor at all
SELECT standin_reset();
SELECT id, status, details->>'name' AS name, details->'stats' AS stats FROM campaigns ORDER BY id;
SELECT standin_config('{"list_shape": "array"}');
SELECT count(*) FROM campaigns;
SELECT standin_config('{"list_shape": "envelope_nocursor"}');
SELECT count(*) FROM campaigns;
SELECT standin_reset();
-- a next_cursor is followed (2 pages of 3)
CREATE SERVER three FOREIGN DATA WRAPPER topcalls_fdw;
DO $$ BEGIN
  EXECUTE format('ALTER SERVER three OPTIONS (ADD base_url %L, ADD page_size %L)',
                 current_setting('topcalls_test.api_url'), '3');
END $$;
CREATE USER MAPPING FOR CURRENT_USER SERVER three OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE three_campaigns (id uuid, status text) SERVER three OPTIONS (resource 'campaigns');
SELECT count(*) FROM three_campaigns;
SELECT (standin_stats())->'campaign_requests' AS requests;
-- lookups by id, and a 404
SELECT standin_reset();
SELECT id, status FROM campaigns WHERE id = ANY (ARRAY[campaign_id(2), campaign_id(77)]);
SELECT * FROM standin_requests() ORDER BY 1;
-- fields the API does not document, by name
CREATE FOREIGN TABLE campaign_names (id uuid, name text OPTIONS (field 'name'),
  stats jsonb OPTIONS (field 'stats')) SERVER topcalls OPTIONS (resource 'campaigns');
SELECT id, name, (stats->>'calls')::int AS calls FROM campaign_names ORDER BY id LIMIT 2;
DROP FOREIGN TABLE campaign_names;
-- a key without campaigns:read
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (SET api_key 'tc_nocampaigns_key');
SELECT count(*) FROM campaigns;
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (SET api_key 'tc_test_key');

-- carriers: the envelope or a bare array; no get endpoint, so an id
-- condition reads the list
SELECT standin_reset();
SELECT id, carrier_name, trunk_type FROM carriers ORDER BY id;
SELECT standin_config('{"list_shape": "array"}');
SELECT carrier_name FROM carriers WHERE id = 'cc000000-0000-4000-8000-000000000002';
SELECT * FROM standin_requests();
SELECT standin_reset();
-- phone numbers and their carriers
SELECT c.carrier_name, count(p.id) FROM carriers c
  JOIN topcalls_phone_numbers p ON p.voip_carrier_sid = c.voip_carrier_sid
  GROUP BY 1 ORDER BY 1;
-- a bare array where the envelope is due is an error
SELECT standin_faults('[{"kind": "list", "path_regex": "^/v1/calls", "status": 200, "json": []}]');
SELECT count(*) FROM calls;
SELECT standin_faults('[]');
DROP SERVER three CASCADE;
