// The OpenID provider end-to-end tests sign in with: the `oidc-provider`
// package (OpenID Certified), on loopback, with one confidential client.
//
//   node provider.mjs CONFIG_JSON
//
// CONFIG_JSON: { "clients": [{ "client_id", "client_secret" }], "redirect_prefix",
//               "accounts": { "<login>": { "email", "email_verified", "name", "groups" } } }
//
// A client may be sent back to any redirect URI under `redirect_prefix`
// (the gateway's callback paths carry the identity provider's id, which a
// test only learns once it has created it).
//
// It listens on a free loopback port and prints `listening <issuer>` once
// it serves. Logins go through the
// package's development interactions (any password).
//
// For the tests of what the gateway must refuse, `POST /__test/mode` with
// `{"client_id", "mode"}` makes the token endpoint answer that client's code
// exchanges with
// a forged ID token: re-signed by the provider's own key with one claim
// wrong (`expired`, `issuer`, `nonce`, `audience`, `future`), or signed
// wrongly (`alg-none`, `hs256-public-key`, `unknown-kid`, `tampered`), or
// made an Entra ID token with a groups overage (`entra-overage`), whose
// groups the Graph stand-in under `/graph/` serves.
// `GET /__test/stats` counts JWKS fetches; `POST /__test/account` with
// `{"login", …claims}` changes an account. The provider exits when its
// standard input closes (the test process ended).
import { createHmac, createSign, createVerify, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2]);
const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

function rsaKey(kid) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { kid, privateKey, publicKey, jwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

const signing = rsaKey(`k-${randomBytes(6).toString('hex')}`);
const accounts = config.accounts ?? {};

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: [`${config.redirect_prefix}registered`],
    // The gateway's home on the tests' host: where its logout comes back.
    post_logout_redirect_uris: ['https://localhost/'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: { keys: [signing.jwk] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  conformIdTokenClaims: false,
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  cookies: { keys: [randomBytes(16).toString('hex')] },
  async findAccount(_ctx, id) {
    const account = accounts[id] ?? {};
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: account.email ?? `${id}@example.com`,
          email_verified: account.email_verified ?? true,
          name: account.name ?? id,
          groups: account.groups ?? [],
        };
      },
    };
  },
});
provider.proxy = false;
const redirectUriAllowed = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function allowed(value) {
  return redirectUriAllowed.call(this, value) || value.startsWith(config.redirect_prefix);
};

const b64 = (value) => Buffer.from(value).toString('base64url');
const json = (value) => b64(JSON.stringify(value));

function signRs256(header, payload, key) {
  const input = `${json(header)}.${json(payload)}`;
  const signature = createSign('RSA-SHA256').update(input).sign(key);
  return `${input}.${signature.toString('base64url')}`;
}

/// The ID token `original` forged as `mode` says.
function forge(original, mode) {
  const [h, p, s] = original.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const payload = JSON.parse(Buffer.from(p, 'base64url'));
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'expired':
      return signRs256(header, { ...payload, iat: now - 7200, exp: now - 3600 }, signing.privateKey);
    case 'future':
      return signRs256(header, { ...payload, iat: now + 3600, exp: now + 7200 }, signing.privateKey);
    case 'issuer':
      return signRs256(header, { ...payload, iss: 'http://127.0.0.1:1/other' }, signing.privateKey);
    case 'nonce':
      return signRs256(header, { ...payload, nonce: 'not-this-login' }, signing.privateKey);
    case 'audience':
      return signRs256(header, { ...payload, aud: 'another-client' }, signing.privateKey);
    case 'tampered':
      return `${h}.${json({ ...payload, email: 'mallory@example.com' })}.${s}`;
    case 'alg-none':
      return `${json({ alg: 'none', typ: 'JWT' })}.${p}.`;
    case 'hs256-public-key': {
      const pem = signing.publicKey.export({ format: 'pem', type: 'spki' });
      const forgedHeader = { alg: 'HS256', typ: 'JWT', kid: signing.kid };
      const input = `${json(forgedHeader)}.${p}`;
      return `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
    }
    case 'entra-overage': {
      // An Entra ID token for a user in too many groups: `tid`/`oid`, the
      // verified-domain flag, and a claim source instead of `groups`.
      const { groups: _, ...rest } = payload;
      const oid = `oid-${payload.sub}`;
      return signRs256(header, {
        ...rest,
        tid: ENTRA_TENANT,
        oid,
        xms_edov: true,
        _claim_names: { groups: 'src1' },
        _claim_sources: { src1: { endpoint: `https://graph.microsoft.com/v1.0/users/${oid}/getMemberObjects` } },
      }, signing.privateKey);
    }
    case 'google-workspace':
      // A Google Workspace account: its domain in `hd`, no groups.
      return signRs256(header, { ...payload, hd: payload.email.split('@')[1], groups: undefined }, signing.privateKey);
    case 'unknown-kid': {
      const other = rsaKey(`k-${randomBytes(6).toString('hex')}`);
      return signRs256({ ...header, kid: other.kid }, payload, other.privateKey);
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

const modes = new Map();

// A stand-in for Microsoft Graph and the Entra token endpoint (no real
// one runs here), following their published contracts:
// `POST /graph/{tenant}/oauth2/v2.0/token` (client credentials, form body,
// scope `{graph}/.default`; AADSTS-style errors) and
// `POST /graph/v1.0/users/{id}/getMemberGroups` (bearer token, JSON body
// with `securityEnabledOnly`; Graph error bodies `{"error": {"code",
// "message"}}`). A user `oid-<login>` is in that account's groups.
const ENTRA_TENANT = 'tenant-test';
const graphTokens = new Set();
let graphCalls = 0;

async function rawBody(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

// A stand-in for Google's token endpoint and the Admin SDK Directory API
// (no real one runs here), following their published contracts:
// `POST /google/token` exchanges a service account's JWT assertion
// (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`; RS256 signed
// by the key of `GET /__test/service-account`, `aud` this URL, the
// directory scope, `sub` the admin it acts as) for an access token;
// `GET /google/admin/directory/v1/groups?userKey=&maxResults=&pageToken=`
// pages through the account's groups (as `{login}@acme.test` addresses).
const serviceAccount = generateKeyPairSync('rsa', { modulusLength: 2048 });
const SERVICE_ACCOUNT_EMAIL = 'portcullis@acme-test.iam.gserviceaccount.com';
const DIRECTORY_SCOPE = 'https://www.googleapis.com/auth/admin.directory.group.readonly';
const googleTokens = new Set();
let directoryCalls = 0;

function googleAssertionValid(assertion) {
  const [h, p, s] = (assertion ?? '').split('.');
  if (!s) return 'malformed';
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  const verifier = createVerify('RSA-SHA256').update(`${h}.${p}`);
  if (header.alg !== 'RS256' || !verifier.verify(serviceAccount.publicKey, Buffer.from(s, 'base64url'))) return 'bad signature';
  const now = Math.floor(Date.now() / 1000);
  if (claims.iss !== SERVICE_ACCOUNT_EMAIL) return 'unknown service account';
  if (claims.aud !== `${issuer}/google/token`) return 'wrong audience';
  if (claims.scope !== DIRECTORY_SCOPE) return 'wrong scope';
  if (!(claims.exp > now && claims.iat <= now + 60 && claims.exp - claims.iat <= 3600)) return 'expired';
  if (!claims.sub) return 'no admin to act as';
  return null;
}

async function google(ctx) {
  if (ctx.path === '/__test/service-account') {
    ctx.body = {
      client_email: SERVICE_ACCOUNT_EMAIL,
      private_key: serviceAccount.privateKey.export({ format: 'pem', type: 'pkcs8' }),
      directory_calls: directoryCalls,
    };
    return true;
  }
  if (ctx.path === '/google/token' && ctx.method === 'POST') {
    const form = new URLSearchParams(await rawBody(ctx));
    const why = form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer'
      ? googleAssertionValid(form.get('assertion'))
      : 'unsupported grant type';
    if (why) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_grant', error_description: why };
    } else {
      const accessToken = randomBytes(24).toString('base64url');
      googleTokens.add(accessToken);
      ctx.body = { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' };
    }
    return true;
  }
  if (ctx.path === '/google/admin/directory/v1/groups' && ctx.method === 'GET') {
    directoryCalls += 1;
    const bearer = (ctx.get('authorization') || '').replace(/^Bearer /, '');
    if (!googleTokens.has(bearer)) {
      ctx.status = 401;
      ctx.body = { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } };
      return true;
    }
    const userKey = ctx.query.userKey ?? '';
    const login = userKey.split('@')[0];
    const all = ((accounts[login] ?? {}).groups ?? []).map((g) => ({ kind: 'admin#directory#group', email: `${g}@acme.test`, name: g }));
    const size = Math.min(Number(ctx.query.maxResults ?? 200), 200);
    // Pages of at most 2 here, so that paging is exercised.
    const pageSize = Math.min(size, 2);
    const start = Number(ctx.query.pageToken ?? 0);
    const page = all.slice(start, start + pageSize);
    ctx.body = { kind: 'admin#directory#groups', groups: page };
    if (start + pageSize < all.length) ctx.body.nextPageToken = String(start + pageSize);
    return true;
  }
  return false;
}

async function graph(ctx) {
  const token = ctx.path.match(/^\/graph\/([^/]+)\/oauth2\/v2\.0\/token$/);
  if (token && ctx.method === 'POST') {
    const form = new URLSearchParams(await rawBody(ctx));
    const client = config.clients.find((c) => c.client_id === form.get('client_id'));
    if (form.get('grant_type') !== 'client_credentials') {
      ctx.status = 400;
      ctx.body = { error: 'unsupported_grant_type', error_description: 'AADSTS70003: The app requested an unsupported grant type.' };
    } else if (!client || client.client_secret !== form.get('client_secret')) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.', error_codes: [7000215] };
    } else if (token[1] !== ENTRA_TENANT || form.get('scope') !== `${issuer}/graph/.default`) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_scope', error_description: 'AADSTS70011: The provided value for the input parameter scope is not valid.' };
    } else {
      const accessToken = randomBytes(24).toString('base64url');
      graphTokens.add(accessToken);
      ctx.body = { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: accessToken };
    }
    return true;
  }
  const members = ctx.path.match(/^\/graph\/v1\.0\/users\/oid-([^/]+)\/getMemberGroups$/);
  if (members && ctx.method === 'POST') {
    graphCalls += 1;
    const bearer = (ctx.get('authorization') || '').replace(/^Bearer /, '');
    let body = null;
    try { body = JSON.parse(await rawBody(ctx)); } catch { body = null; }
    if (!graphTokens.has(bearer)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"');
      ctx.body = { error: { code: 'InvalidAuthenticationToken', message: 'Access token validation failure.' } };
    } else if (typeof body?.securityEnabledOnly !== 'boolean') {
      ctx.status = 400;
      ctx.body = { error: { code: 'Request_BadRequest', message: 'securityEnabledOnly is required.' } };
    } else {
      ctx.body = {
        '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)',
        value: (accounts[members[1]] ?? {}).groups ?? [],
      };
    }
    return true;
  }
  return false;
}
let jwksFetches = 0;

async function bodyOf(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString());
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/mode' && ctx.method === 'POST') {
    const { client_id: clientId, mode } = await bodyOf(ctx);
    modes.set(clientId, mode ?? null);
    ctx.body = { client_id: clientId, mode };
    return;
  }
  if (ctx.path === '/__test/account' && ctx.method === 'POST') {
    const { login, ...claims } = await bodyOf(ctx);
    accounts[login] = claims;
    ctx.body = { login };
    return;
  }
  if (ctx.path === '/__test/stats') {
    ctx.body = { jwks_fetches: jwksFetches, graph_calls: graphCalls };
    return;
  }
  if (await graph(ctx)) return;
  if (await google(ctx)) return;
  if (ctx.path === '/jwks') jwksFetches += 1;
  await next();
  const mode = modes.get(ctx.oidc?.client?.clientId);
  if (ctx.path === '/token' && mode && ctx.status === 200 && ctx.body?.id_token) {
    ctx.body = { ...ctx.body, id_token: forge(ctx.body.id_token, mode) };
  }
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

server.on('request', provider.callback());
console.log(`listening ${issuer}`);
