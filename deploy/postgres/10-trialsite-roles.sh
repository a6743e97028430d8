#!/bin/sh
# Run once by the postgres image when its data volume is first initialised (mounted into
# /docker-entrypoint-initdb.d by docker-compose.yml), as the cluster's superuser. Two roles
# (README "Database roles"): trialsite_owner owns the database and runs the migrations, so it
# owns the tables and their triggers; trialsite_app, which web, worker and beat connect as, gets
# row privileges only (granted by `manage.py grant_app_role` after migrating), so it can neither
# disable nor drop a trigger, and it is not a superuser, so it cannot switch triggers off with
# session_replication_role. Neither role is a superuser.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$TRIALSITE_OWNER_PASSWORD" -v app_password="$TRIALSITE_APP_PASSWORD" <<'SQL'
CREATE ROLE trialsite_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE trialsite_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
CREATE DATABASE trialsite OWNER trialsite_owner;
REVOKE ALL ON DATABASE trialsite FROM PUBLIC;
GRANT CONNECT ON DATABASE trialsite TO trialsite_app;
SQL
