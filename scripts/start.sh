#!/usr/bin/env bash
# Install what is needed, then run the platform (web, Celery worker, Celery beat) in the foreground.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_platform_ready
cd "$ROOT"
"$VENV/bin/python" manage.py migrate --no-input -v 0
"$VENV/bin/python" manage.py collectstatic --no-input -v 0
# The ledger's checkpoint signing key (kept if it exists; its public half is written beside it).
"$VENV/bin/python" manage.py ledger_keygen --if-missing > /dev/null
log "Building the sandbox runtime images (offline; skipped when up to date)"
"$VENV/bin/python" manage.py build_runtime_images
exec "$VENV/bin/python" manage.py run_platform "$@"
