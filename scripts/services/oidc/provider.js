// A real OpenID Connect provider on loopback, for KneeAI's sign-in tests only (never production).
//
// It is the OpenID-certified `oidc-provider` (node_modules, installed by `npm ci` in
// scripts/services/oidc.sh) with one confidential client for the app and three test users. Its own
// login page checks each user's password; consent is granted at once (a first-party client).
// The ID token carries the requested claims (conformIdTokenClaims: false), `roles` among them,
// because Streamlit's st.login reads the ID token and never calls the userinfo endpoint.
//
//   node provider.js [--port 0] [--ready-file PATH] [--exit-with PID]
//
// Prints `issuer=http://127.0.0.1:PORT` once it listens, and writes the issuer to --ready-file.
import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

export const CLIENT_ID = 'kneeai-test';
export const CLIENT_SECRET = process.env.KNEEAI_TEST_OIDC_CLIENT_SECRET || 'kneeai-test-secret-not-for-production';

// Test users: login -> password and the claims that go into the ID token.
export const USERS = {
  'dr.lee': {
    password: 'clinician-pass',
    claims: { name: 'Dr Lee (test clinician)', email: 'dr.lee@example.test', email_verified: true, roles: ['clinician'] },
  },
  'demo.visitor': {
    password: 'demo-pass',
    claims: { name: 'Demo Visitor (test)', email: 'demo@example.test', email_verified: true, roles: ['demo'] },
  },
  'no.role': {
    password: 'norole-pass',
    claims: { name: 'No Role (test)', email: 'norole@example.test', email_verified: true, roles: [] },
  },
};

function passwordMatches(login, password) {
  const user = Object.hasOwn(USERS, login) ? USERS[login] : undefined;
  if (!user) return false;
  const a = Buffer.from(String(password));
  const b = Buffer.from(user.password);
  return a.length === b.length && timingSafeEqual(a, b);
}

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'test-' + randomBytes(4).toString('hex'), use: 'sig', alg: 'RS256' };
}

function configuration() {
  return {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      // A native client on loopback may use any port (RFC 8252 7.3): the tests pick a free one.
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/oauth2callback', 'http://localhost/oauth2callback'],
      // st.logout sends the app's redirect_uri (/oauth2callback) as post_logout_redirect_uri.
      post_logout_redirect_uris: ['http://127.0.0.1/oauth2callback', 'http://localhost/oauth2callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    async findAccount(_ctx, id) {
      if (!Object.hasOwn(USERS, id)) return undefined;
      return { accountId: id, async claims() { return { sub: id, preferred_username: id, ...USERS[id].claims }; } };
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      roles: ['roles'],
    },
    scopes: ['openid', 'profile', 'email', 'roles'],
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, AuthorizationCode: 60, IdToken: 3600 },
  };
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

function loginPage(uid, error) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test provider sign-in</title></head>
<body><main><h1>Test provider sign-in</h1>
${error ? `<p role="alert" id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Username <input name="login" id="login" autocomplete="username" required autofocus></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
<button type="submit" id="submit">Sign in</button>
</form></main></body></html>`;
}

// The provider's "sign out?" page (st.logout ends the session here too): no outside fonts.
async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test provider sign-out</title></head>
<body><main><h1>Sign out of the test provider?</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout" id="logout">Sign out</button>
<button type="submit" form="op.logoutForm" id="stay">Stay signed in</button></main></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function grantConsent(provider, req, res, details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  if (prompt.details.missingResourceScopes) {
    for (const [indicator, scope] of Object.entries(prompt.details.missingResourceScopes)) grant.addResourceScope(indicator, scope.join(' '));
  }
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

async function interaction(provider, req, res, url) {
  const match = url.pathname.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!match) return send(res, 404, 'not found');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== match[1]) return send(res, 400, 'interaction mismatch');
  if (req.method === 'GET') {
    if (details.prompt.name === 'login') return send(res, 200, loginPage(details.uid));
    if (details.prompt.name === 'consent') return grantConsent(provider, req, res, details);
    return send(res, 501, 'prompt not implemented');
  }
  if (req.method === 'POST' && match[2] && details.prompt.name === 'login') {
    const form = await readForm(req);
    const login = form.get('login') || '';
    if (!passwordMatches(login, form.get('password') || '')) return send(res, 401, loginPage(details.uid, 'Wrong username or password.'));
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  return send(res, 405, 'method not allowed');
}

export async function start({ port = 0, host = '127.0.0.1' } = {}) {
  const server = createServer();
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const issuer = `http://${host}:${server.address().port}`;
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  const handle = provider.callback();
  server.on('request', (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname.startsWith('/interaction/')) {
      interaction(provider, req, res, url).catch((err) => {
        console.error('interaction error', err);
        if (!res.headersSent) send(res, 400, escapeHtml(err.message));
      });
    } else {
      handle(req, res);
    }
  });
  return { server, issuer, provider };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '0' }, 'ready-file': { type: 'string' }, 'exit-with': { type: 'string' } },
  });
  const { issuer, server } = await start({ port: Number(values.port) });
  if (values['ready-file']) writeFileSync(values['ready-file'], issuer + '\n');
  console.log(`issuer=${issuer}`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // --exit-with PID: stop when that process (the test run that started us) is gone, trap or no trap.
  if (values['exit-with']) {
    const watched = Number(values['exit-with']);
    setInterval(() => {
      try { process.kill(watched, 0); } catch { stop(); }
    }, 2000).unref();
  }
}
