#!/usr/bin/env bash
# Run the whole test suite against real Redis, Docker and PostgreSQL (installed and started if needed).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_platform_ready
ensure_postgres
ensure_browser
ensure_http_audit
cd "$ROOT"
export ARGUS_TEST_POSTGRES_URL="${ARGUS_TEST_POSTGRES_URL:-postgres://argus:argus@127.0.0.1:5432/postgres}"
# This run's Prometheus metrics (multiprocess files, one per process) start from nothing.
export PROMETHEUS_MULTIPROC_DIR="$ROOT/var/test-metrics"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
log "Building the sandbox runtime images (offline; skipped when up to date)"
"$VENV/bin/python" manage.py build_runtime_images
log "ruff"
"$VENV/bin/ruff" check .
log "pytest"
# pytest exits 5 when no test ran; that is a failure here, never a silent pass.
exec "$VENV/bin/pytest" -p no:cacheprovider -n "${ARGUS_TEST_PROCESSES:-2}" "$@"
