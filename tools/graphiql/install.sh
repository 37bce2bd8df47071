#!/usr/bin/env bash
# Install GraphiQL and React from the npm registry at the versions pinned in package-lock.json (npm ci, into the
# git-ignored node_modules/ here) and copy the browser bundles the GraphiQL page loads, with their licences,
# into build/graphiql/ at the repository root (settings.STATICFILES_DIRS serves them under /static/graphiql/).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/../../build/graphiql}"

npm ci --prefix "$HERE" --no-audit --no-fund --ignore-scripts --loglevel=error
modules="$HERE/node_modules"
mkdir -p "$(dirname "$OUT")"
tmp="$(mktemp -d "$OUT.XXXXXX")"
chmod 755 "$tmp"
cp "$modules/react/umd/react.production.min.js" "$modules/react/LICENSE" "$tmp/"
mv "$tmp/LICENSE" "$tmp/react.LICENSE.txt"
cp "$modules/react-dom/umd/react-dom.production.min.js" "$tmp/"
cp "$modules/react-dom/LICENSE" "$tmp/react-dom.LICENSE.txt"
cp "$modules/graphiql/graphiql.min.js" "$modules/graphiql/graphiql.min.css" "$tmp/"
cp "$modules/graphiql/LICENSE" "$tmp/graphiql.LICENSE.txt"
rm -rf "$OUT"
mv "$tmp" "$OUT"
