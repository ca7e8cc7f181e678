// A disposable OpenID Connect provider for Accord's integration tests. Never deploy it.
//
// It is a real OIDC implementation (panva's oidc-provider), so the relying-party code in
// crates/auth is tested against discovery, JWKS, PKCE, code exchange and ID-token signing as a
// production IdP performs them, not against hand-written fakes. Only two things are unusual:
//   * there are no human pages: the authorization request carries `login_hint=<email>`, and the
//     interaction handler below signs that account in and grants consent on the spot;
//   * `scenario+<name>@example.test` accounts make the token endpoint hand out a deliberately
//     broken ID token, to prove that the relying party rejects it (see TEST SCENARIOS below).
//
// Environment: PORT (0 = any free port), ACCORD_OIDC_REDIRECT_URI (the client's redirect URI).
// Stdout: exactly one line `ISSUER=http://127.0.0.1:<port>` once listening (oidc-provider may
// also print notices there; the test harness looks for the ISSUER= line). Diagnostics go to stderr.

import { randomBytes, createHash } from 'node:crypto';
import { createServer } from 'node:http';

import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';

// Two warnings are expected for a throwaway test IdP (the in-memory store; Node 20 being older
// than the LTS oidc-provider prefers) and would only clutter every test's output: drop exactly
// those. oidc-provider is imported afterwards because it warns while loading.
const EXPECTED_WARNINGS = [/in-memory adapter is used/, /Unsupported runtime/];
const warn = console.warn.bind(console);
console.warn = (...args) => {
  if (!EXPECTED_WARNINGS.some((pattern) => pattern.test(String(args[0])))) warn(...args);
};
const { default: Provider } = await import('oidc-provider');

const CLIENT_ID = 'accord';
const CLIENT_SECRET = 'accord-test-secret';
const SIGNING_ALG = 'RS256';

const redirectUri = process.env.ACCORD_OIDC_REDIRECT_URI;
if (!redirectUri) {
  console.error('idp.mjs: ACCORD_OIDC_REDIRECT_URI must be set');
  process.exit(2);
}
const port = Number.parseInt(process.env.PORT ?? '0', 10);

// Fresh keys on every start, so no test can come to depend on a particular key.
const signingKid = `idp-${randomBytes(8).toString('hex')}`;
const signing = await generateKeyPair(SIGNING_ALG, { extractable: true });
const signingJwk = { ...(await exportJWK(signing.privateKey)), kid: signingKid, alg: SIGNING_ALG, use: 'sig' };
// Never published in the JWKS: used only by the bad-signature scenario.
const rogue = await generateKeyPair(SIGNING_ALG);

const SCENARIO = /^scenario\+(wrong-aud|expired|wrong-nonce|bad-signature)@example\.test$/;
const FIXED_ACCOUNTS = new Map([
  ['alice@example.test', true],
  ['bob@example.test', true],
  ['unverified@example.test', false],
  ['nobody@example.test', true],
]);

// Subjects are opaque (as at real IdPs) but stable for an email within and across runs.
const subjectFor = (email) => `sub-${createHash('sha256').update(email).digest('hex').slice(0, 24)}`;
const accountsBySubject = new Map();
function lookupAccount(email) {
  const normalized = String(email ?? '').trim().toLowerCase();
  let emailVerified = FIXED_ACCOUNTS.get(normalized);
  if (emailVerified === undefined && SCENARIO.test(normalized)) emailVerified = true;
  if (emailVerified === undefined) return undefined;
  const account = { sub: subjectFor(normalized), email: normalized, emailVerified };
  accountsBySubject.set(account.sub, account);
  return account;
}

// Bind first: the issuer must contain the port, which is only known once listening.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: SIGNING_ALG,
  }],
  jwks: { keys: [signingJwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  // Put scope-requested claims (email) into the ID token, as Google and most IdPs do.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    const account = accountsBySubject.get(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: account.email, email_verified: account.emailVerified };
      },
    };
  },
});

// Interactions without pages: each GET of /interaction/:uid resolves the pending prompt at once.
provider.use(async (ctx, next) => {
  if (ctx.method !== 'GET' || !/^\/interaction\/[^/]+$/.test(ctx.path)) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params } = details;
  let result;
  if (prompt.name === 'login') {
    const account = lookupAccount(params.login_hint);
    result = account
      ? { login: { accountId: account.sub } }
      : { error: 'access_denied', error_description: 'unknown login_hint' };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  } else {
    result = { error: 'access_denied', error_description: `unsupported prompt ${prompt.name}` };
  }
  // Consent must keep the login submitted in the previous interaction; a login starts afresh.
  const mergeWithLastSubmission = prompt.name === 'consent';
  ctx.status = 303;
  ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission }));
  return undefined;
});

// TEST SCENARIOS: a misbehaving IdP. Runs after the token endpoint has answered; for
// scenario+<name>@example.test accounts it replaces the ID token with one whose claims (or
// signature) are wrong in exactly one way. Everything else is left as the provider issued it.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || ctx.status !== 200 || typeof ctx.body?.id_token !== 'string') return;
  const claims = decodeJwt(ctx.body.id_token);
  const scenario = SCENARIO.exec(String(claims.email ?? ''))?.[1];
  if (!scenario) return;
  let key = signing.privateKey;
  const now = Math.floor(Date.now() / 1000);
  switch (scenario) {
    case 'wrong-aud': claims.aud = 'someone-else'; break;
    case 'expired': claims.iat = now - 7200; claims.exp = now - 3600; break;
    case 'wrong-nonce': claims.nonce = 'not-the-nonce'; break;
    case 'bad-signature': key = rogue.privateKey; break; // same kid header, key not in the JWKS
    default: return;
  }
  const header = decodeProtectedHeader(ctx.body.id_token);
  ctx.body = { ...ctx.body, id_token: await new SignJWT(claims).setProtectedHeader(header).sign(key) };
});

provider.on('server_error', (_ctx, err) => console.error('idp.mjs server_error:', err));
server.on('request', provider.callback());

process.stdout.write(`ISSUER=${issuer}\n`);

// The harness kills us; exit cleanly on the polite signals too.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
