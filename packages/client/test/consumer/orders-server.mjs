// A plain Express app outside the monorepo protecting a route with the published @warden/verifier.
import express from "express";
import { createVerifier, expressAuth } from "@warden/verifier";

const { WARDEN_URL, REDIS_URL, QUEUE_PREFIX } = process.env;
const verifier = createVerifier({
  jwksUrl: `${WARDEN_URL}/.well-known/jwks.json`,
  issuer: "warden",
  audience: "warden",
  redisUrl: REDIS_URL,
  queuePrefix: QUEUE_PREFIX,
});
await verifier.ready();

const app = express();
app.get("/orders", expressAuth(verifier), (req, res) => {
  res.json({ userId: req.principal.userId, role: req.principal.role });
});
const server = app.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));
process.on("SIGTERM", () => {
  server.close();
  void verifier.close().then(() => process.exit(0));
});
