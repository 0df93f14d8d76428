// Runs graphql-http's audit suite (auditServer) against a GraphQL over HTTP
// endpoint, prints the audit table, and fails if a MUST or SHOULD audit
// fails. Usage: node audit.mjs http://127.0.0.1:4000/graphql
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) throw new Error('usage: node audit.mjs URL');
const results = await auditServer({ url });
const rows = results.map((r) => `| ${r.id} | ${r.status === 'ok' ? 'ok' : r.status.toUpperCase()} | ${r.name.replace(/\|/g, '\\|')} |`);
console.log('| id | result | audit |\n|---|---|---|\n' + rows.join('\n'));
const failed = results.filter((r) => r.status !== 'ok' && /^(MUST|SHOULD)\b/.test(r.name));
const counts = results.reduce((c, r) => ({ ...c, [r.status]: (c[r.status] || 0) + 1 }), {});
console.log(`\n${results.length} audits: ${JSON.stringify(counts)}`);
for (const r of failed) console.log(`FAILED ${r.id} ${r.name}: ${r.reason}`);
process.exit(failed.length ? 1 : 0);
