// baton through the official MCP TypeScript SDK v2 client (`@modelcontextprotocol/client`).
//
// Run by tests/tests/typescript_client.rs with the package installed (pinned) in the cache
// folder, never in the repository:
//
//     node baton_client.mjs CLIENT_DIR MODE URL EXPECTED_VERSION
//
// CLIENT_DIR is the npm prefix holding node_modules/@modelcontextprotocol/client; MODE is
// the client's version negotiation: `legacy` (its default: the 2025 `initialize`
// handshake), `auto` (probes `server/discover`) or `pin` (pinned to 2026-07-28). Checks the
// negotiated version, tools/list, the whole research-task lifecycle, paging through
// list_research_tasks and get_task_results with cursors, and the exact error texts (the
// unknown-handle message, an invalid argument naming its field). Every structured result
// is validated by the client against the tool's outputSchema. Prints one line per step,
// then PASS; exits non-zero on the first failed expectation. The Rust test also requires
// an empty stderr: the client's schema validator warns there about anything non-standard.

import { createRequire } from 'node:module';
import { join } from 'node:path';

const [clientDir, mode, url, expectedVersion] = process.argv.slice(2);
if (!clientDir || !['legacy', 'auto', 'pin'].includes(mode) || !url || !expectedVersion) {
  console.error('usage: node baton_client.mjs CLIENT_DIR legacy|auto|pin URL EXPECTED_VERSION');
  process.exit(2);
}
// Resolve the package from the cache folder through its own `exports` map.
const require = createRequire(join(clientDir, 'package.json'));
const { Client, StreamableHTTPClientTransport } = require('@modelcontextprotocol/client');

const UNKNOWN_HANDLE =
  'unknown or expired handle: no research task with this handle is available; ' +
  'start a new one with start_research_task';
const RESEARCH_TOOLS = [
  'add_findings',
  'cancel_research_task',
  'compile_research_report',
  'complete_research_task',
  'get_task_results',
  'get_task_status',
  'list_research_task_shares',
  'list_research_tasks',
  'revoke_research_task_share',
  'share_research_task',
  'start_research_task',
];

function step(message) {
  console.log(`ok   ${mode}: ${message}`);
}

function expect(condition, message) {
  if (!condition) throw new Error(`${mode}: ${message}`);
}

function same(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  expect(a === e, `${what}: got ${a}, expected ${e}`);
}

function textOf(result) {
  return (result.content ?? [])
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

async function ok(client, name, args) {
  const result = await client.callTool({ name, arguments: args });
  expect(!result.isError, `${name} ${JSON.stringify(args)} failed: ${textOf(result)}`);
  expect(
    result.structuredContent !== null && typeof result.structuredContent === 'object',
    `${name}: no structuredContent`,
  );
  return result.structuredContent;
}

async function toolError(client, name, args) {
  const result = await client.callTool({ name, arguments: args });
  expect(
    result.isError === true,
    `${name} ${JSON.stringify(args)} should fail, got ${JSON.stringify(result.structuredContent)}`,
  );
  return textOf(result);
}

function negotiation() {
  switch (mode) {
    case 'legacy':
      return undefined; // the client's default
    case 'auto':
      return { mode: 'auto' };
    default:
      return { mode: { pin: '2026-07-28' } };
  }
}

async function connect() {
  const options = {};
  const versionNegotiation = negotiation();
  if (versionNegotiation) options.versionNegotiation = versionNegotiation;
  const client = new Client({ name: 'baton-ts-client-test', version: '1.0.0' }, options);
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

async function handshake(client) {
  const version = client.getNegotiatedProtocolVersion();
  same(version, expectedVersion, 'negotiated protocol version');
  const info = client.getServerVersion();
  expect(info?.name === 'baton', `server info ${JSON.stringify(info)}`);
  expect(client.getServerCapabilities()?.tools, 'no tools capability');
  expect((client.getInstructions() ?? '').includes('handle'), 'instructions do not mention handles');
  step(`connected, negotiated ${version} with ${info.name} ${info.version}`);

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  same(names, RESEARCH_TOOLS, 'tools/list');
  const start = tools.find((t) => t.name === 'start_research_task');
  const depth = start.inputSchema.properties.depth;
  expect(depth.minimum === 1 && depth.maximum === 5, `depth range ${JSON.stringify(depth)}`);
  step(`tools/list -> ${tools.length} tools, depth ${depth.minimum}-${depth.maximum}`);
}

async function lifecycle(client) {
  const started = await ok(client, 'start_research_task', { topic: ' typescript sdk ', depth: 3 });
  const handle = started.handle;
  expect(handle.startsWith('task_') && started.status === 'running', JSON.stringify(started));
  expect(started.replayed === false, `fresh task replayed: ${JSON.stringify(started)}`);
  const status = await ok(client, 'get_task_status', { handle });
  same(
    [status.topic, status.depth, status.status, status.findings_count],
    ['typescript sdk', 3, 'running', 0],
    'get_task_status',
  );
  const added = await ok(client, 'add_findings', { handle, findings: ['one', 'two'] });
  same([added.added, added.findings_count], [2, 2], 'add_findings');
  const done = await ok(client, 'complete_research_task', { handle, findings: ['three'] });
  same([done.status, done.result_count], ['complete', 3], 'complete_research_task');
  const again = await toolError(client, 'complete_research_task', { handle, findings: [] });
  same(again, 'cannot complete the task: the task is already complete', 'second completion');
  const results = await ok(client, 'get_task_results', { handle });
  same(
    results.findings.map((f) => [f.index, f.text]),
    [
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ],
    'get_task_results',
  );
  expect(!('next_cursor' in results), `one page has no next_cursor: ${JSON.stringify(results)}`);
  const other = await ok(client, 'start_research_task', { topic: 'to cancel' });
  const cancelled = await ok(client, 'cancel_research_task', { handle: other.handle });
  same(cancelled.status, 'cancelled', 'cancel_research_task');
  const late = await toolError(client, 'add_findings', { handle: other.handle, findings: ['x'] });
  same(late, 'cannot add findings: the task is already cancelled', 'add to a cancelled task');
  const replay = await ok(client, 'start_research_task', { topic: 'once', idempotency_key: 'ts-1' });
  const replayed = await ok(client, 'start_research_task', { topic: 'once', idempotency_key: 'ts-1' });
  same([replayed.handle, replayed.replayed], [replay.handle, true], 'idempotent start');
  step('lifecycle start -> status -> add -> complete -> results -> cancel, idempotent retry');
  return { completed: handle, cancelled: other.handle, replayed: replay.handle };
}

async function paging(client, earlier) {
  // A task with seven findings, read two at a time.
  const { handle } = await ok(client, 'start_research_task', { topic: 'paging findings' });
  const texts = ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7'];
  await ok(client, 'add_findings', { handle, findings: texts.slice(0, 4) });
  await ok(client, 'complete_research_task', { handle, findings: texts.slice(4) });
  const pages = [];
  let cursor;
  for (let i = 0; i < 10; i++) {
    const args = cursor === undefined ? { handle, limit: 2 } : { handle, limit: 2, cursor };
    const page = await ok(client, 'get_task_results', args);
    same(page.findings_count, 7, 'findings_count on every page');
    pages.push(page.findings.map((f) => f.index));
    cursor = page.next_cursor;
    if (cursor === undefined) break;
  }
  same(pages, [[1, 2], [3, 4], [5, 6], [7]], 'get_task_results pages');

  // Every task of this caller, three per page: the five started here and the earlier three.
  const started = [handle];
  for (let i = 0; i < 4; i++) {
    started.push((await ok(client, 'start_research_task', { topic: `paging task ${i}` })).handle);
  }
  const seen = [];
  const sizes = [];
  cursor = undefined;
  for (let i = 0; i < 10; i++) {
    const args = cursor === undefined ? { limit: 3 } : { limit: 3, cursor };
    const page = await ok(client, 'list_research_tasks', args);
    sizes.push(page.tasks.length);
    seen.push(...page.tasks.map((t) => t.handle));
    cursor = page.next_cursor;
    if (cursor === undefined) break;
  }
  const expected = [...started, earlier.completed, earlier.cancelled, earlier.replayed];
  same(sizes, [3, 3, 2], 'list_research_tasks page sizes');
  same([...seen].sort(), [...expected].sort(), 'list_research_tasks handles');
  const running = await ok(client, 'list_research_tasks', { status: 'running', limit: 200 });
  same(
    running.tasks.map((t) => t.handle).sort(),
    [...started.slice(1), earlier.replayed].sort(),
    'list_research_tasks status=running',
  );
  step(`paging: get_task_results ${pages.length} pages, list_research_tasks ${sizes.length} pages`);
  return handle;
}

async function errors(client, handle) {
  // The one answer for every handle that leads nowhere, byte for byte.
  const forged = handle.slice(0, -1) + (handle.endsWith('A') ? 'B' : 'A');
  for (const bad of ['task_doesnotexist', forged, `${handle}x`]) {
    same(await toolError(client, 'get_task_status', { handle: bad }), UNKNOWN_HANDLE, `handle ${bad}`);
    same(
      await toolError(client, 'add_findings', { handle: bad, findings: ['f'] }),
      UNKNOWN_HANDLE,
      `add_findings to ${bad}`,
    );
  }
  // An invalid argument names its field, with the reason.
  const cases = [
    ['start_research_task', { topic: 't', depth: 9 }, 'invalid argument `depth`: must be between 1 and 5, got 9'],
    ['start_research_task', { topic: '   ' }, 'invalid argument `topic`: must not be blank'],
    ['get_task_results', { handle, limit: 0 }, 'invalid argument `limit`: must be between 1 and 200, got 0'],
    [
      'get_task_results',
      { handle, cursor: 'nonsense' },
      'invalid argument `cursor`: is not a cursor returned by get_task_results',
    ],
    ['add_findings', { handle, findings: ['ok', ' '] }, 'invalid argument `findings`: item 1 is blank'],
  ];
  for (const [name, args, message] of cases) {
    same(await toolError(client, name, args), message, `${name} ${JSON.stringify(args)}`);
  }
  step(`errors: unknown handles -> one message; ${cases.length} invalid arguments name their field`);
}

const client = await connect();
try {
  await handshake(client);
  const earlier = await lifecycle(client);
  const handle = await paging(client, earlier);
  await errors(client, handle);
} finally {
  await client.close();
}
console.log('PASS');
