// Plain node, the published @warden/client: sign up and in, call past an access token's expiry
// (renewed on the way), then learn of an admin revocation. Prints one JSON line; never a token.
import { createWardenClient, fileStore, memoryStore, WardenSessionEndedError } from "@warden/client";

const { WARDEN_URL: url, USER_EMAIL: email, ADMIN_EMAIL, ADMIN_PASSWORD, STORE_FILE } = process.env;
const password = "correct horse battery";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const seen = {};

const warden = createWardenClient({ url, store: fileStore(STORE_FILE) });
const ended = [];
warden.onSessionEnded(({ reason }) => ended.push(reason));
const signedUp = await warden.signup({ email, password });
await warden.logout();
const signedIn = await warden.login({ email, password, deviceName: "tarball test" });
seen.signedIn = signedIn.user.id === signedUp.user.id && (await warden.isSignedIn());

const first = await warden.accessToken();
await sleep(signedIn.accessTokenExpiresAt - Date.now() + 500);
const me = await warden.api.auth.me.query();
seen.callAfterExpiry = me.user.id === signedIn.user.id && me.session.id === signedIn.sessionId;
seen.renewed = (await warden.accessToken()) !== first;

const admin = createWardenClient({ url, store: memoryStore() });
await admin.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
const { eventId } = await admin.api.admin.revokeUser.mutate({ userId: signedIn.user.id, reason: "tarball test" });
const deadline = Date.now() + 10_000;
while ((await admin.api.admin.revocation.query({ eventId })).status !== "applied" && Date.now() < deadline) await sleep(50);
seen.applied = (await admin.api.admin.revocation.query({ eventId })).status === "applied";

const error = await warden.api.auth.me.query().then(
  () => undefined,
  (e) => e,
);
seen.error = { sessionEnded: error instanceof WardenSessionEndedError, reason: error?.reason };
seen.later = await warden.api.sessions.list.query().then(
  () => "succeeded",
  (e) => (e instanceof WardenSessionEndedError ? "WardenSessionEndedError" : String(e)),
);
seen.ended = ended;
console.log(JSON.stringify(seen));
