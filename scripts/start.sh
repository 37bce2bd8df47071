#!/usr/bin/env bash
# Install what is needed, then run the platform (web, Celery worker, Celery beat) in the foreground.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_platform_ready
cd "$ROOT"
"$VENV/bin/python" manage.py migrate --no-input -v 0
"$VENV/bin/python" manage.py collectstatic --no-input -v 0
exec "$VENV/bin/python" manage.py run_platform "$@"
