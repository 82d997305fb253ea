// A certified OpenID Provider (npm `oidc-provider`) on loopback, for the portal's browser tests.
//
//   node provider.mjs config.json
//
// config.json: {"port": 0, "clients": [{client_id, client_secret,
// redirect_uris, post_logout_redirect_uris}], "accounts": {"alice": {"email": ..., "email_verified":
// true, "name": ..., "groups": [...]}}}. PKCE is required for every client; redirect URIs must match
// exactly. The dev login form takes any login and password (the login is the account id), then a
// "Continue" consent page. It listens first (port 0: any free port), so its issuer,
// http://127.0.0.1:PORT, is known; then prints one JSON line {"ready": true, "issuer": ...}.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts || {};

const makeProvider = (issuer) => new Provider(issuer, {
  clients: config.clients.map((client) => ({
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    ...client,
  })),
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  cookies: { keys: ['portal-e2e-cookie-key-not-secret'] },
  async findAccount(_ctx, id) {
    const known = accounts[id] || {};
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...known };
      },
    };
  },
});

const server = http.createServer();
server.listen(config.port || 0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  server.on('request', makeProvider(issuer).callback());
  process.stdout.write(`${JSON.stringify({ ready: true, issuer })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
