#!/bin/sh
# Run by the postgres image once, when its data directory is empty (compose.yaml
# mounts it in /docker-entrypoint-initdb.d, and the SQL file beside it in
# /etc/fieldsvc): the roles and the database.
set -eu
psql --username "$POSTGRES_USER" --dbname postgres \
     -v owner_password="$DB_OWNER_PASSWORD" -v app_password="$DB_APP_PASSWORD" \
     -f /etc/fieldsvc/create-roles.sql
