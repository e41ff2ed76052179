--
-- IMPORT FOREIGN SCHEMA topcalls
--
CREATE SCHEMA imported;
IMPORT FOREIGN SCHEMA topcalls FROM SERVER topcalls INTO imported;
SELECT c.relname, ft.ftoptions FROM pg_class c JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
  WHERE c.relnamespace = 'imported'::regnamespace ORDER BY 1;
\d imported.phone_numbers
\d imported.calls
\d imported.call_transcripts
\d imported.campaigns
\d imported.carriers
SELECT id, number, status FROM imported.phone_numbers WHERE id = '00000000-0000-4000-8000-000000000002';
SELECT count(*) FROM imported.phone_numbers;
DROP SCHEMA imported CASCADE;

CREATE SCHEMA limited;
IMPORT FOREIGN SCHEMA topcalls LIMIT TO (phone_numbers) FROM SERVER topcalls INTO limited;
SELECT relname FROM pg_class WHERE relnamespace = 'limited'::regnamespace;
DROP SCHEMA limited CASCADE;
CREATE SCHEMA excepted;
IMPORT FOREIGN SCHEMA topcalls EXCEPT (phone_numbers, calls) FROM SERVER topcalls INTO excepted;
SELECT relname FROM pg_class WHERE relnamespace = 'excepted'::regnamespace ORDER BY 1;
IMPORT FOREIGN SCHEMA topcalls LIMIT TO (calls) FROM SERVER topcalls INTO excepted;
SELECT relname FROM pg_class WHERE relnamespace = 'excepted'::regnamespace ORDER BY 1;
IMPORT FOREIGN SCHEMA other FROM SERVER topcalls INTO excepted;
IMPORT FOREIGN SCHEMA topcalls FROM SERVER topcalls INTO excepted OPTIONS (import_default 'true');
DROP SCHEMA excepted CASCADE;
