#!/usr/bin/env bash
# The self-hosted primary (compose.prod.yaml, profile self-hosted): run once by the postgres image's
# entrypoint when the data volume is empty. Creates the role the replica streams with and lets it
# open replication connections (the image's own pg_hba.conf line covers ordinary databases only).
set -euo pipefail

: "${POSTGRES_REPLICATION_USER:?set POSTGRES_REPLICATION_USER in .env.production}"
: "${POSTGRES_REPLICATION_PASSWORD:?set POSTGRES_REPLICATION_PASSWORD in .env.production}"

# Values go in as psql variables (:"name" quotes an identifier, :'name' a literal), never spliced into SQL.
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=role="$POSTGRES_REPLICATION_USER" --set=password="$POSTGRES_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE :"role" WITH LOGIN REPLICATION PASSWORD :'password';
SQL

echo "host replication ${POSTGRES_REPLICATION_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
