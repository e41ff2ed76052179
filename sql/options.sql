--
-- Options are checked at CREATE/ALTER time.
--
-- unknown options list the valid ones for that object
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (nonsense '1');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (api_key 'tc_x');
ALTER SERVER topcalls OPTIONS (ADD resource 'phone_numbers');
ALTER FOREIGN TABLE topcalls_phone_numbers OPTIONS (ADD page_size '10');
ALTER FOREIGN TABLE topcalls_phone_numbers ALTER COLUMN id OPTIONS (ADD nonsense 'x');
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (ADD base_url 'https://x');
CREATE FOREIGN DATA WRAPPER other_fdw VALIDATOR topcalls_fdw_validator OPTIONS (base_url 'https://x');

-- malformed values say what is wrong
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (timeout_ms '0');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (timeout_ms '-5');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (timeout_ms 'soon');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (connect_timeout_ms '1.5');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (page_size '201');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (max_concurrency '0');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (max_retries '-1');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (max_response_bytes '10');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (request_cost 'cheap');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'ftp://api.topcalls.ai');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'api.topcalls.ai');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'https://');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'https://api.topcalls.ai/?x=1');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'https://user:pw@api.topcalls.ai');
-- plain http only to this machine: the key would travel in clear
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'http://api.topcalls.ai');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'http://127.0.0.1.example.com');
-- ... and only in canonical form: libcurl reads 0127.0.0.1 as 87.0.0.1
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'http://0127.0.0.1');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'http://127.-0.0.1');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'http://[::1]x');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (ca_file '');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (timeout_ms '1', timeout_ms '2');
CREATE FOREIGN TABLE bad_table (id uuid) SERVER topcalls OPTIONS (resource 'voices');
CREATE FOREIGN TABLE bad_table (id uuid) SERVER topcalls OPTIONS (time_pushdown 'sometimes');
CREATE FOREIGN TABLE bad_table (id uuid) SERVER topcalls OPTIONS (rows '-1');

-- good values are accepted
CREATE SERVER good FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (
  base_url 'https://api.topcalls.ai/', timeout_ms '5000', connect_timeout_ms '1000',
  page_size '200', max_concurrency '8', max_retries '0', max_response_bytes '1048576',
  ca_file '/etc/ssl/certs/ca-certificates.crt', request_cost '50', row_cost '0.5');
CREATE SERVER good_local1 FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'http://localhost:8080');
CREATE SERVER good_local2 FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'http://127.1.2.3/api');
CREATE SERVER good_local3 FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url 'http://[::1]:9');
CREATE USER MAPPING FOR CURRENT_USER SERVER good OPTIONS (api_key 'tc_live_abc');
CREATE FOREIGN TABLE good_table (
  phone_id uuid OPTIONS (field 'id'),
  whole jsonb OPTIONS (field '*')
) SERVER good OPTIONS (resource 'phone_numbers', rows '12345');
ALTER SERVER good OPTIONS (SET page_size '50', DROP ca_file);
SELECT srvname, srvoptions FROM pg_foreign_server WHERE srvname LIKE 'good%' ORDER BY 1;
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'good_table'::regclass;
SELECT attname, attfdwoptions FROM pg_attribute
  WHERE attrelid = 'good_table'::regclass AND attnum > 0 ORDER BY attnum;

-- the key lives in the user mapping, which other users cannot read
CREATE ROLE tc_other_user;
-- ca_file names a file the server opens: only for superusers and
-- pg_read_server_files, as file_fdw's filename
GRANT USAGE ON FOREIGN DATA WRAPPER topcalls_fdw TO tc_other_user;
SET ROLE tc_other_user;
CREATE SERVER theirs FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (ca_file '/etc/passwd');
CREATE SERVER theirs FOREIGN DATA WRAPPER topcalls_fdw;
ALTER SERVER theirs OPTIONS (ADD ca_file '/etc/passwd');
RESET ROLE;
GRANT pg_read_server_files TO tc_other_user;
SET ROLE tc_other_user;
ALTER SERVER theirs OPTIONS (ADD ca_file '/etc/ssl/certs/ca-certificates.crt');
RESET ROLE;
DROP SERVER theirs;
REVOKE USAGE ON FOREIGN DATA WRAPPER topcalls_fdw FROM tc_other_user;
REVOKE pg_read_server_files FROM tc_other_user;
SET ROLE tc_other_user;
SELECT umoptions FROM pg_user_mappings WHERE srvname = 'good';
RESET ROLE;
DROP ROLE tc_other_user;

DROP SERVER good CASCADE;
DROP SERVER good_local1, good_local2, good_local3;
