// A real OpenID Provider for the interop tests: panva's oidc-provider (OpenID Certified), served over
// HTTPS under an issuer with a path, with the clients and accounts the pytest fixture writes into a
// JSON file (its path is argv[2]). It uses oidc-provider's own development login and consent pages.
//
// Besides the provider, one test-only endpoint, guarded by a random bearer token, makes the *next*
// ID token from the token endpoint misbehave (wrong aud, nonce, iss, expired, foreign key, HS256),
// so the tests can prove the app refuses what a broken or hostile provider might send. It also
// reports which parameters the provider received, to show what MSAL puts on the wire.

import { createHash, createHmac, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = new URL(config.issuer);
const mountPath = issuer.pathname.replace(/\/$/, '');

function rsaJwk(kid) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
}

// The provider's signing key, and a stranger's key with the same kid (a forged signature).
const signingJwk = rsaJwk('interop-signing-key');
const strangerJwk = { ...rsaJwk('unused'), kid: signingJwk.kid };

const accounts = config.accounts;
const received = { authorization: [], token: [] };
let idTokenMisbehaviour = null;

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: [signingJwk] },
  cookies: { keys: [config.cookie_key] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  // Put the claims of the granted scopes into the ID token (as Entra does), not only into userinfo.
  conformIdTokenClaims: false,
  // Every client must use PKCE, so a client that does not send it fails here.
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  async findAccount(_ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
});

// Record what arrives (parameter names and the values that are not secrets), then let a pending
// misbehaviour rewrite the ID token in the token response.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/auth' && ctx.method === 'GET') {
    received.authorization.push(Object.fromEntries(new URL(ctx.href).searchParams));
  }
  if (ctx.path === '/token' && ctx.method === 'POST') {
    const body = ctx.oidc?.body || {};
    received.token.push({
      parameters: Object.keys(body).sort(),
      grant_type: body.grant_type,
      client_id: body.client_id,
      status: ctx.status,
    });
    if (idTokenMisbehaviour && ctx.status === 200 && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: misbehave(ctx.body.id_token, idTokenMisbehaviour) };
      idTokenMisbehaviour = null; // one token only
    }
  }
});

const b64url = (value) => Buffer.from(value).toString('base64url');
const fromB64url = (value) => JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));

function misbehave(idToken, how) {
  const [encodedHeader, encodedPayload] = idToken.split('.');
  const header = fromB64url(encodedHeader);
  const payload = fromB64url(encodedPayload);
  for (const [name, value] of Object.entries(how.claims || {})) {
    if (value === null) delete payload[name];
    else payload[name] = value;
  }
  for (const name of ['iat', 'nbf', 'exp', 'auth_time']) {
    if (how.shift_times && typeof payload[name] === 'number') payload[name] += how.shift_times;
  }
  const signWith = how.sign_with || 'provider';
  if (signWith === 'client_secret') header.alg = 'HS256';
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  let signature;
  if (signWith === 'client_secret') {
    signature = createHmac('sha256', config.clients[0].client_secret).update(signingInput).digest();
  } else {
    const jwk = signWith === 'stranger' ? strangerJwk : signingJwk;
    signature = sign('sha256', Buffer.from(signingInput), createPrivateKey({ key: jwk, format: 'jwk' }));
  }
  return `${signingInput}.${signature.toString('base64url')}`;
}

function control(req, res) {
  const expected = createHash('sha256').update(`Bearer ${config.control_token}`).digest('hex');
  const given = createHash('sha256').update(req.headers.authorization || '').digest('hex');
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  if (given !== expected) return reply(401, { error: 'control token required' });
  if (req.url === '/_control/received' && req.method === 'GET') return reply(200, received);
  if (req.url === '/_control/received' && req.method === 'DELETE') {
    received.authorization.length = 0;
    received.token.length = 0;
    return reply(200, {});
  }
  if (req.url === '/_control/id-token' && req.method === 'DELETE') {
    idTokenMisbehaviour = null;
    return reply(200, {});
  }
  if (req.url === '/_control/id-token' && req.method === 'POST') {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { text += chunk; });
    req.on('end', () => {
      try {
        idTokenMisbehaviour = JSON.parse(text);
      } catch {
        return reply(400, { error: 'body must be JSON' });
      }
      return reply(200, idTokenMisbehaviour);
    });
    return undefined;
  }
  return reply(404, { error: 'no such control' });
}

const callback = provider.callback();
const server = createServer(
  { cert: readFileSync(config.tls_cert), key: readFileSync(config.tls_key) },
  (req, res) => {
    if (req.url.startsWith('/_control/')) return control(req, res);
    if (req.url === mountPath || req.url.startsWith(`${mountPath}/`)) {
      // Mounted under the issuer's path: oidc-provider builds its URLs from originalUrl.
      req.originalUrl = req.url;
      req.url = req.url.slice(mountPath.length) || '/';
      return callback(req, res);
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    return res.end('not found\n');
  },
);

server.listen(config.port, config.host, () => {
  console.log(`oidc-provider ready at ${config.issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
