#!/usr/bin/env bash
# Build, migrate, roll out and check the production stack (SPEC section 7), on the Docker host.
#
#   ops/deploy.sh                 every step: build, migrate, rollout, check
#   ops/deploy.sh build|migrate|rollout|check
#
# Needs docker with the compose plugin (2.20+), curl, .env.production (from .env.production.template)
# and nginx/certs/{fullchain,privkey}.pem.
#
# migrate runs `alembic upgrade head` exactly once, before any new replica starts (replicas never
# migrate on start: two would race). By default it runs in a one-off container of the new image with
# .env.production. With DEPLOY_LOCAL=1, `ops/deploy.sh migrate` runs the very same command here
# instead, from the repository root, with alembic from PATH and DATABASE_URL from the environment.
#
# rollout replaces the replicas without a gap: new ones start next to the old, nginx is reloaded
# once they are healthy, then the old ones stop (their SSE clients reconnect with Last-Event-ID).
#
# Tunables: REPLICAS (2), HEALTH_URL (https://localhost/health/ready), HEALTH_ATTEMPTS (30, 2 s apart),
# START_TIMEOUT (120 s for new replicas to become healthy).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_FILE=$ROOT/.env.production
COMPOSE_FILE=$ROOT/compose.prod.yaml
REPLICAS=${REPLICAS:-2}
HEALTH_URL=${HEALTH_URL:-https://localhost/health/ready}
HEALTH_ATTEMPTS=${HEALTH_ATTEMPTS:-30}
START_TIMEOUT=${START_TIMEOUT:-120}
MIGRATE_COMMAND=(alembic upgrade head)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'deploy: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
}

# --env-file also feeds compose.prod.yaml's ${...} values and COMPOSE_PROFILES.
compose() {
    docker compose --project-directory "$ROOT" --env-file "$ENV_FILE" -f "$COMPOSE_FILE" "$@"
}

require_docker_and_env() {
    command -v docker >/dev/null 2>&1 || die "docker is not installed"
    docker compose version >/dev/null 2>&1 || die "the docker compose plugin (2.20 or later) is not installed"
    [[ -f $ENV_FILE ]] || die "$ENV_FILE is missing: cp .env.production.template .env.production, then fill it in"
    local secret
    secret=$(sed -n 's/^JWT_SECRET_KEY=//p' "$ENV_FILE" | tail -n 1)
    secret=${secret%$'\r'}
    if (( ${#secret} < 32 )); then
        die "JWT_SECRET_KEY in $ENV_FILE must be at least 32 characters; generate one with:" \
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
    fi
}

require_certificates() {
    local pem
    for pem in fullchain.pem privkey.pem; do
        [[ -s $ROOT/nginx/certs/$pem ]] || die "nginx/certs/$pem is missing (nginx's TLS certificate chain and key)"
    done
}

build() {
    log "building tableorder:latest"
    compose build --pull backend
}

migrate() {
    if [[ ${DEPLOY_LOCAL:-0} == 1 ]]; then
        log "migrating here: ${MIGRATE_COMMAND[*]}"
        (cd "$ROOT" && "${MIGRATE_COMMAND[@]}")
    else
        log "migrating in a one-off backend container: ${MIGRATE_COMMAND[*]}"
        compose run --rm backend "${MIGRATE_COMMAND[@]}"
    fi
}

# Waits until every given container reports healthy; returns 1 when one is unhealthy or time runs out.
wait_healthy() {
    local id status deadline=$((SECONDS + START_TIMEOUT))
    for id in "$@"; do
        while true; do
            status=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
            case $status in
                healthy) break ;;
                unhealthy | none) log "container ${id:0:12} is $status"; return 1 ;;
            esac
            if (( SECONDS >= deadline )); then
                log "container ${id:0:12} is still $status after ${START_TIMEOUT}s"
                return 1
            fi
            sleep 2
        done
    done
}

# nginx resolves `backend` to the replicas' addresses when it loads its configuration.
reload_nginx() {
    compose up -d --no-deps nginx
    compose exec -T nginx nginx -t
    compose exec -T nginx nginx -s reload
}

rollout() {
    local -a old new
    mapfile -t old < <(compose ps --quiet backend)
    log "starting $REPLICAS new backend replica(s) next to ${#old[@]} running"
    compose up -d --no-deps --no-recreate --scale "backend=$(( ${#old[@]} + REPLICAS ))" backend
    mapfile -t new < <(compose ps --quiet backend | grep -vxF -f <(printf '%s\n' "${old[@]}") || true)
    (( ${#new[@]} == REPLICAS )) || die "expected $REPLICAS new backend containers, found ${#new[@]}"

    if ! wait_healthy "${new[@]}"; then
        docker logs --tail 50 "${new[0]}" >&2 || true
        docker rm --force "${new[@]}" >/dev/null
        die "the new replicas did not become healthy; they were removed and the previous ones keep serving"
    fi
    reload_nginx

    if (( ${#old[@]} > 0 )); then
        log "stopping ${#old[@]} previous replica(s)"
        docker stop --time 15 "${old[@]}" >/dev/null
        docker rm "${old[@]}" >/dev/null
        reload_nginx
    fi
}

check() {
    local attempt
    command -v curl >/dev/null 2>&1 || die "curl is not installed"
    for (( attempt = 1; attempt <= HEALTH_ATTEMPTS; attempt++ )); do
        # -k: the certificate names the public host, not localhost.
        if curl --fail --silent --show-error --insecure --max-time 5 --output /dev/null "$HEALTH_URL"; then
            log "healthy: $HEALTH_URL"
            return 0
        fi
        sleep 2
    done
    die "health check failed: $HEALTH_URL did not answer 200 in $HEALTH_ATTEMPTS attempts;" \
        "see: docker compose -f compose.prod.yaml logs backend nginx"
}

main() {
    case ${1:-all} in
        all)
            require_docker_and_env
            require_certificates
            build
            migrate
            rollout
            check
            ;;
        build) require_docker_and_env; build ;;
        migrate)
            [[ ${DEPLOY_LOCAL:-0} == 1 ]] || require_docker_and_env
            migrate
            ;;
        rollout) require_docker_and_env; require_certificates; rollout ;;
        check) check ;;
        -h | --help | help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
