/**
 * A worker process for the shared-file-store test: calls Warden in a loop with short-lived
 * access tokens, renewing through the shared file, until it has used `wanted` different access
 * tokens. Prints one JSON line: what it saw.
 * Usage: node --conditions=development --import tsx file-store-worker.ts <url> <store file> <wanted>
 */
import { createWardenClient, fileStore, isWardenError } from "../src/node.js";

const [url, file, wantedText] = process.argv.slice(2);
const wanted = Number(wantedText);
const warden = createWardenClient({ url: url!, store: fileStore(file!) });
let ended: string | undefined;
warden.onSessionEnded(({ reason }) => (ended = reason));

const tokens = new Set<string>();
let calls = 0;
let error: string | undefined;
const deadline = Date.now() + 30_000;
try {
  while (tokens.size < wanted && Date.now() < deadline && !ended) {
    await warden.api.auth.me.query();
    calls++;
    const token = await warden.accessToken();
    if (token) tokens.add(token);
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
  }
} catch (e) {
  error = isWardenError(e) ? e.reason : String(e);
}
process.stdout.write(`${JSON.stringify({ calls, tokens: tokens.size, ended, error })}\n`);
