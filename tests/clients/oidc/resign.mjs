// A forged access token for baton's tests: a real token's header and claims, unchanged,
// signed by a key its issuer never published (a fresh one of the same algorithm). A resource
// server that checks signatures against the issuer's JWKS must refuse it.
//
// Usage: node resign.mjs --modules DIR --token JWT
//   --modules DIR  the npm prefix folder oidc-provider was installed into; its dependency
//                  `jose` (the JOSE library oidc-provider itself signs with) does the signing.
//   --token JWT    the real token (a test token: it may show in a process listing).
//
// Prints the forged token on stdout.

import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { modules: { type: 'string' }, token: { type: 'string' } },
});
if (!args.modules || !args.token) {
  console.error('resign.mjs: --modules DIR and --token JWT are required');
  process.exit(2);
}
// jose is oidc-provider's dependency: resolve it from there (ES modules ignore NODE_PATH).
const fromProvider = createRequire(
  createRequire(path.join(path.resolve(args.modules), 'package.json')).resolve('oidc-provider'),
);
const jose = await import(pathToFileURL(fromProvider.resolve('jose')).href);

const token = args.token.trim();
const header = jose.decodeProtectedHeader(token);
// The claims byte for byte.
const payload = jose.base64url.decode(token.split('.')[1]);
const { privateKey } = await jose.generateKeyPair(header.alg, { extractable: false });
const forged = await new jose.CompactSign(payload).setProtectedHeader(header).sign(privateKey);
process.stdout.write(`${forged}\n`);
