#!/usr/bin/env bash
# The production shape, proven: build the images offline (cached), bring compose.yaml's stack up under a
# project name of its own, run the demo through the front door (nginx → gunicorn → GraphQL: a signed plugin
# run on evidence by one of the two worker nodes, its ledger entry checked and the chain verified), then
# tear everything down: containers, networks, volumes and the work directories.
#
#   bash scripts/compose_check.sh          (run by scripts/test.sh after a whole-suite run; ARGUS_COMPOSE_CHECK=0 skips it there)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
started=$SECONDS
bash scripts/build_images.sh
# The workers start sandboxes on this machine's engine, from its runtime images (skipped when up to date).
"$VENV/bin/python" manage.py build_runtime_images >/dev/null

project="argus-check-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
scratch="$(mktemp -d "/tmp/$project-XXXX")"
export COMPOSE_PROJECT_NAME="$project"
export SECRET_KEY="$(head -c 32 /dev/urandom | base64)"
export POSTGRES_PASSWORD="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export S3_SECRET_KEY="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ARGUS_DOCKER_GID="$(stat -c %g /var/run/docker.sock)"
export ARGUS_WORK_DIR="$scratch/work"
export ALLOWED_HOSTS="localhost,127.0.0.1,nginx"
# The front door's port on this machine: one that is free now (loopback only would be nicer, but compose
# v1 publishes on every address; nothing here listens for outside traffic anyway).
export ARGUS_HTTP_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
for node in worker-1 worker-2; do install -d -o 10000 -g 10000 -m 0700 "$ARGUS_WORK_DIR/$node"; done
compose() { docker-compose -f compose.yaml --project-directory "$ROOT" "$@"; }

teardown() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        log "compose check failed; the services' last log lines:"
        compose logs --no-color --tail 40 >&2 || true
    fi
    # The workers' sandbox containers (warm pool) are labelled with their owner, "<worker's hostname>:pid:…".
    local hosts="" id
    for id in $(compose ps -q worker-1 worker-2 2>/dev/null); do hosts="$hosts $(docker inspect -f '{{.Config.Hostname}}' "$id")"; done
    compose down --volumes --remove-orphans --timeout 20 >/dev/null 2>&1 || true
    for id in $(docker ps -aq --filter label=org.argus.managed=1); do
        owner="$(docker inspect -f '{{ index .Config.Labels "org.argus.owner" }}' "$id" 2>/dev/null || true)"
        for host in $hosts; do [ "${owner%%:*}" != "$host" ] || docker rm -f "$id" >/dev/null; done
    done
    rm -rf "$scratch"
    left="$(docker ps -aq --filter "label=com.docker.compose.project=$project"; docker volume ls -q --filter "label=com.docker.compose.project=$project")"
    [ -z "$left" ] || { log "left behind: $left"; status=1; }
    exit "$status"
}
trap teardown EXIT

log "Starting the stack ($project)"
up_started=$SECONDS
compose up -d --no-build >/dev/null 2>&1 || { compose ps; exit 1; }
# Everything that has a health check must pass it; the migrations must have completed.
for _ in $(seq 120); do
    unhealthy="$(for id in $(compose ps -q); do
        docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id"
    done | grep -v -E ' running (healthy)?$|_migrate_1 exited $' || true)"
    [ -z "$unhealthy" ] && break
    sleep 2
done
[ -z "$unhealthy" ] || { log "not healthy: $unhealthy"; exit 1; }
[ "$(docker inspect -f '{{.State.ExitCode}}' "$(compose ps -q migrate)")" = 0 ] || { log "migrate failed"; exit 1; }
log "Stack healthy in $((SECONDS - up_started))s; running the demo through nginx"
compose run --rm --no-deps -T web python manage.py run_demo --base-url http://nginx:8000
# The front door from this machine as well: nginx answers on the published port.
curl -fsS -o /dev/null -w 'GET /graphql/ through the published port: HTTP %{http_code}\n' \
    "http://127.0.0.1:$ARGUS_HTTP_PORT/graphql/?query=%7B__typename%7D"
log "compose check passed in $((SECONDS - started))s"
