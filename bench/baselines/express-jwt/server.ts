// The reference: a protected route written the way the common Express + JWT tutorials write it.
// A string secret handed to jsonwebtoken on every request, verified per request, no caching.
import express, { type NextFunction, type Request, type Response } from "express";
import jwt from "jsonwebtoken";

const JWT_SECRET = process.env.JWT_SECRET ?? "tutorial-secret";
const app = express();
app.use(express.json());

function authenticateToken(req: Request, res: Response, next: NextFunction) {
  const authHeader = req.headers["authorization"];
  const token = authHeader && authHeader.split(" ")[1];
  if (token == null) return res.sendStatus(401);
  jwt.verify(token, JWT_SECRET, (err, user) => {
    if (err) return res.sendStatus(403);
    (req as Request & { user?: unknown }).user = user;
    next();
  });
}

app.get("/me", authenticateToken, (req, res) => {
  res.json({ user: (req as Request & { user?: unknown }).user });
});

const server = app.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(`READY ${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
