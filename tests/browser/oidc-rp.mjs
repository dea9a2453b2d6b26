// A relying party from another ecosystem: node's openid-client (v6), unmodified,
// against a running Gatehouse. Discovery, code + PKCE login (the sign-in pages
// answered over plain HTTP with a cookie jar), ID token validation against the JWKS,
// userinfo, refresh, introspection, revocation and RP-initiated logout.
// Usage: node oidc-rp.mjs BASE_URL SLUG CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD
// Prints one JSON object with what it saw; exits non-zero on the first failure.
import * as client from "openid-client";

const [base, slug, clientId, clientSecret, redirectUri, username, password] = process.argv.slice(2);

const jar = new Map();
function remember(response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(";");
    const eq = pair.indexOf("=");
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const removed = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) ||
      attributes.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split("=")[1]) < Date.now());
    if (removed) jar.delete(name);
    else jar.set(name, value);
  }
}
function cookieHeader() {
  return [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
}
async function request(url, init = {}) {
  const response = await fetch(url, {
    ...init,
    redirect: "manual",
    headers: { ...(init.headers ?? {}), cookie: cookieHeader() },
  });
  remember(response);
  return response;
}

// Follows redirects and answers the sign-in pages until the browser would be sent to
// the relying party's redirect URI; returns that URL.
async function browse(start) {
  let url = new URL(start);
  let response = null;
  for (let step = 0; step < 20; step++) {
    if (url.href.startsWith(redirectUri)) return url;
    response ??= await request(url);
    if (response.status >= 300 && response.status < 400) {
      url = new URL(response.headers.get("location"), url);
      response = null;
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) throw new Error(`${url} answered ${response.status}:\n${html}`);
    const csrf = html.match(/name="csrf_token" value="([^"]*)"/)?.[1];
    if (!csrf) throw new Error(`no form at ${url}:\n${html}`);
    const form = new URLSearchParams({ csrf_token: csrf });
    if (html.includes('name="uid_field"')) form.set("uid_field", username);
    if (html.includes('name="password"')) form.set("password", password);
    if (html.includes('name="consent"')) form.set("consent", "yes");
    // The page posts to itself.
    response = await request(url, {
      method: "POST",
      body: form,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
  }
  throw new Error("too many steps");
}

const seen = {};
const issuer = new URL(`${base}/application/o/${slug}/`);
const config = await client.discovery(issuer, clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});
// Check the ID token's signature against the JWKS too, not only its claims.
client.enableNonRepudiationChecks(config);
seen.issuer = config.serverMetadata().issuer;

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authorize = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: "openid email profile offline_access role",
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: "S256",
  state,
  nonce,
});
const callback = await browse(authorize);
const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
seen.id_token = { sub: claims.sub, email: claims.email, role: claims.role, nonce: claims.nonce };
seen.scope = tokens.scope;

const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
seen.userinfo = { sub: info.sub, email: info.email, preferred_username: info.preferred_username, role: info.role };

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
seen.refreshed = {
  rotated: refreshed.refresh_token !== tokens.refresh_token,
  sub: refreshed.claims()?.sub,
};

const active = await client.tokenIntrospection(config, refreshed.access_token);
seen.introspection = { active: active.active, username: active.username, client_id: active.client_id };

await client.tokenRevocation(config, refreshed.refresh_token);
const revoked = await client.tokenIntrospection(config, refreshed.access_token);
seen.after_revocation = { active: revoked.active };

// RP-initiated logout ends the core session: a silent login then needs a login.
const logout = client.buildEndSessionUrl(config, {
  post_logout_redirect_uri: redirectUri,
  id_token_hint: tokens.id_token,
  state: "bye",
});
const out = await request(logout);
seen.logout = new URL(out.headers.get("location")).searchParams.get("state");
const silent = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: "openid",
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: "S256",
  state,
  prompt: "none",
});
const again = await request(silent);
seen.silent_after_logout = new URL(again.headers.get("location")).searchParams.get("error");

console.log(JSON.stringify(seen));
