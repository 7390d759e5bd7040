-- The database and its two roles, created once by a PostgreSQL superuser:
--   psql -v owner_password=… -v app_password=… -f deploy/postgres/create-roles.sql
-- The owner runs the migrations and owns every table; the app connects as a role that
-- owns nothing, so it cannot alter the audit trail's table or lift its append-only
-- trigger. `flask db upgrade` (as the owner) grants the app what it needs.
-- Names may be changed with -v owner=… -v app=… -v database=….
\set ON_ERROR_STOP on
\if :{?owner}
\else
  \set owner fieldsvc_owner
\endif
\if :{?app}
\else
  \set app fieldsvc_app
\endif
\if :{?database}
\else
  \set database fieldsvc
\endif

CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"database" OWNER :"owner" ENCODING 'UTF8' TEMPLATE template0;
-- Only these two connect to it.
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"app";
