// A real OAuth 2.1 / OpenID authorization server for baton's tests: the npm package
// `oidc-provider` (a certified OpenID provider), on 127.0.0.1, issuing JWT access tokens
// through the client-credentials grant with resource indicators (RFC 8707).
//
// Usage: node provider.mjs --modules DIR --keys FILE [--port N] [--add-key]
//   --modules DIR  the npm prefix folder oidc-provider was installed into (its
//                  `node_modules` holds the package); it is never installed into the repo.
//   --keys FILE  the provider's private signing keys (a JWKS). Created with one RS256 and
//                one ES256 key when missing, so a restart with the same file keeps its keys.
//   --port N     the port to listen on (default 0: any free port). Restart on the same port
//                to keep the issuer URL.
//   --add-key    before starting, put a new RS256 key (a new `kid`) first in FILE: it signs
//                new RS256 tokens, the older keys stay published. This is key rotation.
//
// When ready it prints one JSON line to stdout: {"issuer": "...", "port": N, "kids": [...]}.
//
// Clients (grant `client_credentials`, auth `client_secret_basic` or `_post`):
//   baton-test   / baton-test-secret   RS256 tokens that live 300 s
//   baton-short  / baton-short-secret  RS256 tokens that live 2 s (for expiry tests)
//   baton-es256  / baton-es256-secret  ES256 tokens that live 300 s
// Every resource indicator (`resource=`) the client asks for becomes the token's `aud`;
// the scopes on offer are `research:read research:write tools:search`.
//
// Test-only extra: GET /__test/stats answers {"jwks_requests": n} (requests to /jwks
// since start), so a test can count a resource server's key-set fetches.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const SCOPES = 'research:read research:write tools:search';

const { values: args } = parseArgs({
  options: {
    modules: { type: 'string' },
    keys: { type: 'string' },
    port: { type: 'string', default: '0' },
    'add-key': { type: 'boolean', default: false },
  },
});
if (!args.keys || !args.modules) {
  console.error('provider.mjs: --modules DIR and --keys FILE are required');
  process.exit(2);
}

// ES modules ignore NODE_PATH: resolve the package from the install folder instead.
const entry = createRequire(path.join(path.resolve(args.modules), 'package.json'))
  .resolve('oidc-provider');
const { default: Provider } = await import(pathToFileURL(entry).href);

function newKey(type, alg) {
  const { privateKey } = type === 'rsa'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `${alg.toLowerCase()}-${crypto.randomUUID()}`, alg, use: 'sig' };
}

let keys;
if (fs.existsSync(args.keys)) {
  keys = JSON.parse(fs.readFileSync(args.keys, 'utf8')).keys;
} else {
  keys = [newKey('rsa', 'RS256'), newKey('ec', 'ES256')];
}
if (args['add-key']) {
  keys = [newKey('rsa', 'RS256'), ...keys];
}
fs.writeFileSync(args.keys, JSON.stringify({ keys }), { mode: 0o600 });

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(args.port), '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const clients = [
  ['baton-test', 'RS256', 300],
  ['baton-short', 'RS256', 2],
  ['baton-es256', 'ES256', 300],
];
const clientSettings = new Map(clients.map(([id, alg, ttl]) => [id, { alg, ttl }]));

const provider = new Provider(issuer, {
  clients: clients.map(([id]) => ({
    client_id: id,
    client_secret: `${id}-secret`,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: SCOPES,
  })),
  jwks: { keys },
  scopes: ['openid', ...SCOPES.split(' ')],
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resourceIndicator, client) => {
        const { alg, ttl } = clientSettings.get(client.clientId);
        return {
          scope: SCOPES,
          audience: resourceIndicator,
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        };
      },
    },
  },
});

let jwksRequests = 0;
const callback = provider.callback();
server.on('request', (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (path === '/__test/stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ jwks_requests: jwksRequests }));
    return;
  }
  if (path === '/jwks') jwksRequests += 1;
  callback(req, res);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

console.log(JSON.stringify({ issuer, port, kids: keys.map((k) => k.kid) }));
