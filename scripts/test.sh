#!/usr/bin/env bash
# Run the whole test suite against real Redis, Docker and PostgreSQL (installed and started if needed), then the
# sandbox suite and the example plugins a second time under gVisor (runsc), which must give the same results.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_platform_ready
ensure_postgres
ensure_browser
ensure_http_audit
ensure_runsc
ensure_seaweedfs
cd "$ROOT"
export ARGUS_TEST_POSTGRES_URL="${ARGUS_TEST_POSTGRES_URL:-postgres://argus:argus@127.0.0.1:5432/postgres}"
# This run's Prometheus metrics (multiprocess files, one per process) start from nothing.
export PROMETHEUS_MULTIPROC_DIR="$ROOT/var/test-metrics"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
log "Building the sandbox runtime images (offline; skipped when up to date)"
"$VENV/bin/python" manage.py build_runtime_images
log "ruff"
"$VENV/bin/ruff" check .
log "import-linter: the layers of .importlinter (README: Architecture)"
"$VENV/bin/lint-imports" --no-cache
# The extra passes (gVisor; the sandbox suite in the node18 image with a dependency layer) run after a
# whole-suite run only (no test path among the arguments), or when asked with ARGUS_TEST_GVISOR=1;
# ARGUS_TEST_GVISOR=0 skips them. The compose check likewise (ARGUS_COMPOSE_CHECK).
whole_suite=1
for arg in "$@"; do [ -e "${arg%%::*}" ] && whole_suite=0; done
gvisor="${ARGUS_TEST_GVISOR:-auto}"
[ "$gvisor" != auto ] || gvisor=$whole_suite
log "pytest"
# pytest exits 5 when no test ran; that is a failure here, never a silent pass.
"$VENV/bin/pytest" -p no:cacheprovider -n "${ARGUS_TEST_PROCESSES:-2}" "$@" || exit
# The production shape (compose.yaml, images built offline) after a whole-suite run, or when asked with
# ARGUS_COMPOSE_CHECK=1; ARGUS_COMPOSE_CHECK=0 skips it.
compose_check="${ARGUS_COMPOSE_CHECK:-auto}"
[ "$compose_check" != auto ] || compose_check=$whole_suite
if [ "$compose_check" = 1 ]; then
    log "compose check: the images built offline, the stack up, the demo through nginx, everything removed"
    bash scripts/compose_check.sh || exit
fi
[ "$gvisor" = 1 ] || exit 0
log "pytest under gVisor (ARGUS_SANDBOX_OCI_RUNTIME=runsc): the sandbox suite and the example plugins"
ARGUS_SANDBOX_OCI_RUNTIME=runsc "$VENV/bin/pytest" -p no:cacheprovider -n "${ARGUS_TEST_PROCESSES:-2}" -q \
    tests/execution/sandbox tests/execution/integration/test_example_plugins.py \
    tests/execution/integration/test_gvisor_policy.py || exit
log "pytest: the sandbox suite again in the second runtime's image (node18) with a dependency layer mounted"
ARGUS_TEST_SANDBOX_PROFILE=node18-deps exec "$VENV/bin/pytest" -p no:cacheprovider -n "${ARGUS_TEST_PROCESSES:-2}" \
    -q tests/execution/sandbox
