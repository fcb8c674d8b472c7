-- One role and one database per service; role name = database name = password (development
-- only). Idempotent: run by deploy/local/postgres on every start and, once, by the postgres
-- container (docker-compose.yml mounts it into /docker-entrypoint-initdb.d). Needs psql
-- (\gexec) and a superuser. CREATEDB lets test suites create and drop their own databases.

DO $$
DECLARE
    svc text;
BEGIN
    FOREACH svc IN ARRAY ARRAY['registry', 'funds', 'teams', 'evaluation', 'social'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = svc) THEN
            EXECUTE format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', svc, svc);
        END IF;
    END LOOP;
END
$$;

SELECT 'CREATE DATABASE registry OWNER registry'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'registry')\gexec
SELECT 'CREATE DATABASE funds OWNER funds'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'funds')\gexec
SELECT 'CREATE DATABASE teams OWNER teams'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'teams')\gexec
SELECT 'CREATE DATABASE evaluation OWNER evaluation'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'evaluation')\gexec
SELECT 'CREATE DATABASE social OWNER social'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'social')\gexec
