// A single-page app as a user writes one with oidc-client-ts: code flow with PKCE as a public
// client, user info, silent renewal in a hidden iframe (prompt=none), and RP-initiated logout.
"use strict";
const here = window.location.origin;
const manager = new oidc.UserManager({
  authority: window.SPA_SETTINGS.authority,
  client_id: window.SPA_SETTINGS.client_id,
  redirect_uri: here + "/callback.html",
  silent_redirect_uri: here + "/silent.html",
  post_logout_redirect_uri: here + "/",
  response_type: "code",
  scope: "openid profile email",
  loadUserInfo: true,
  automaticSilentRenew: false,
  userStore: new oidc.WebStorageStateStore({ store: window.localStorage }),
});
window.spaManager = manager;

function show(id, text) { document.getElementById(id).textContent = text; }
function problem(err) { return (err && err.error ? err.error + ": " : "") + String(err && err.message || err); }

async function render() {
  const user = await manager.getUser();
  if (!user) { show("status", "signed out"); show("user", ""); return; }
  show("status", "signed in");
  show("user", user.profile.name + " (" + user.profile.sub + ")");
  window.spaToken = user.access_token;
  window.spaSid = user.profile.sid;
  const metadata = await manager.metadataService.getMetadata();
  const jwks = await (await fetch(metadata.jwks_uri)).json();  // a cross-origin fetch of the JWKS
  show("keys", String(jwks.keys.length));
}

async function main() {
  const path = window.location.pathname;
  try {
    if (path === "/silent.html") { await manager.signinSilentCallback(); return; }
    if (path === "/callback.html") { await manager.signinRedirectCallback(); window.location.replace("/"); return; }
    await render();
  } catch (err) { show("error", problem(err)); }
  document.getElementById("signin").onclick = () => manager.signinRedirect({ state: "from-the-spa" });
  document.getElementById("renew").onclick = async () => {
    show("error", "");
    show("status", "renewing");
    try { await manager.signinSilent(); show("status", "renewed"); await render(); }
    catch (err) { show("status", "renew failed"); show("error", problem(err)); }
  };
  document.getElementById("signout").onclick = () => manager.signoutRedirect({ state: "bye" });
}
main();
