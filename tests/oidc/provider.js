// A real OpenID Connect provider for the sign-in tests (tests/test_auth_browser.py), on 127.0.0.1 only:
// the certified `oidc-provider` package with one static client, a few test accounts whose ID tokens carry a
// `groups` claim, a minimal login form (no page asset from any other host) and sign-out without a question.
//
//   PORT=9000 REDIRECT_URIS=http://127.0.0.1:8501/oauth2callback node tests/oidc/provider.js
//
// REDIRECT_URIS: the apps' callback addresses, comma-separated (one client serves every app under test).
//
// Prints "ready <issuer>" on stdout once it listens. Test material only: never used by the app.
import http from 'node:http';
import { URLSearchParams } from 'node:url';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 9000);
const issuer = `http://127.0.0.1:${port}`;
const redirectUris = String(process.env.REDIRECT_URIS || '').split(',').filter(Boolean);
const PASSWORD = 'kakehashi-test';

// login name → the account's claims. `guest` exists at the provider but has no role in Kakehashi.
const ACCOUNTS = {
  exec: { email: 'exec@example.co.jp', name: '経営 太郎', groups: ['kk-executives'] },
  lead: { email: 'lead@example.co.jp', name: '室長 花子', groups: ['kk-leads'] },
  analyst: { email: 'analyst@example.co.jp', name: '分析 次郎', groups: ['kk-analysts'] },
  admin: { email: 'admin@example.co.jp', name: '管理 三郎', groups: ['kk-admins'] },
  guest: { email: 'guest@example.co.jp', name: '部外 四郎', groups: ['other-team'] },
};

const configuration = {
  clients: [{
    client_id: 'kakehashi',
    client_secret: 'kakehashi-test-secret',
    redirect_uris: redirectUris,
    post_logout_redirect_uris: redirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
  // Put the scopes' claims in the ID token itself: Streamlit reads the ID token, not /userinfo.
  conformIdTokenClaims: false,
  cookies: { keys: ['kakehashi-test-cookie-key'] },
  pkce: { required: () => false },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // Sign out at once (the stock page asks, and loads a web font from another host).
      logoutSource: async (ctx, form) => {
        ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign-out</title></head><body>${form}
          <button id="yes" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
          <script>document.getElementById('yes').click()</script></body></html>`;
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, id) => {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      claims: async () => ({ sub: id, email_verified: true, ...account }),
    };
  },
};

const provider = new Provider(issuer, configuration);

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
    <body style="font-family: sans-serif; max-width: 24em; margin: 3em auto">${body}</body></html>`;
}

function readForm(req) {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(new URLSearchParams(data)));
  });
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  if (req.method === 'POST' && req.url.endsWith('/login')) {
    const form = await readForm(req);
    const login = form.get('login');
    if (!ACCOUNTS[login] || form.get('password') !== PASSWORD) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page('Sign-in', `<p id="error">Unknown login or wrong password.</p>${loginForm(uid)}`));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'login') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page('Sign-in', loginForm(uid)));
    return;
  }
  // Consent: a first-party client, granted what it asks for without a question.
  const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope));
  await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId: grant.jti } }, { mergeWithLastSubmission: true });
}

function loginForm(uid) {
  return `<h1>Test identity provider</h1>
    <form method="post" action="/interaction/${uid}/login">
      <label>Login <input name="login" autofocus></label><br>
      <label>Password <input name="password" type="password"></label><br>
      <button type="submit">Sign in</button>
    </form>`;
}

const callback = provider.callback();
http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((error) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
    return;
  }
  callback(req, res);
}).listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
