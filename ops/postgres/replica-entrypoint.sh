#!/usr/bin/env bash
# The self-hosted streaming replica (compose.prod.yaml, profile self-hosted), run as user postgres.
# First start (empty volume): clone the primary with pg_basebackup -R, which also writes
# standby.signal and primary_conninfo; every start: run postgres as a read-only hot standby.
# To re-clone (e.g. after the replica fell further behind than wal_keep_size), remove its volume.
set -euo pipefail

: "${PGDATA:?}"
: "${PRIMARY_HOST:?}"
: "${POSTGRES_REPLICATION_USER:?set POSTGRES_REPLICATION_USER in .env.production}"
: "${POSTGRES_REPLICATION_PASSWORD:?set POSTGRES_REPLICATION_PASSWORD in .env.production}"
export PGPASSWORD="$POSTGRES_REPLICATION_PASSWORD"

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    until pg_isready -h "$PRIMARY_HOST" -p 5432 -q; do
        echo "waiting for the primary at ${PRIMARY_HOST}:5432"
        sleep 2
    done
    # A clone interrupted half-way leaves files behind; pg_basebackup needs an empty directory.
    find "$PGDATA" -mindepth 1 -delete
    pg_basebackup --host="$PRIMARY_HOST" --port=5432 --username="$POSTGRES_REPLICATION_USER" \
        --pgdata="$PGDATA" --write-recovery-conf --wal-method=stream --checkpoint=fast --progress
fi
chmod 0700 "$PGDATA"

# Extra arguments (compose `command`) are server settings, e.g. -c max_connections=300.
exec postgres -c hot_standby=on "$@"
