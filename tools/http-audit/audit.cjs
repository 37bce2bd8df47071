// Runs the graphql-http server audits (GraphQL-over-HTTP compliance) against a live endpoint and prints
// one JSON array of {id, name, status, reason}: status is "ok", or "error" / "warn" / "notice" for a
// failed MUST / SHOULD / MAY. Usage: [ARGUS_AUDIT_TOKEN=argus_…] node audit.cjs http://127.0.0.1:PORT/graphql/
// With ARGUS_AUDIT_TOKEN every request carries it as a bearer token: some audits introspect
// (`__type(name:)`), which Argus allows only to authenticated callers.
'use strict';
const { serverAudits } = require('graphql-http');

async function main() {
  const url = process.argv[2];
  if (!url) throw new Error('usage: node audit.cjs URL');
  const token = process.env.ARGUS_AUDIT_TOKEN;
  const fetchFn = token
    ? (input, init = {}) =>
        fetch(input, { ...init, headers: { ...(init.headers || {}), authorization: `Bearer ${token}` } })
    : fetch;
  const results = [];
  for (const audit of serverAudits({ url, fetchFn })) {
    const result = await audit.fn();
    results.push({ id: audit.id, name: audit.name, status: result.status, reason: result.reason || null });
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
