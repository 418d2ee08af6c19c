import { execFile } from "node:child_process";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { baseEnv, REDIS_URL, spawnNode, startWardenSystem, waitFor, type Child, type WardenSystem } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWardenClient, memoryStore } from "../src/node.js";

// @warden/client and @warden/verifier as their users get them: built, packed, installed with npm
// into a project outside the monorepo, type-checked there with NodeNext and skipLibCheck off,
// and run with plain node against a real auth server and admin worker.
const run = promisify(execFile);
const PACKAGES = ["client", "verifier"].map((name) => fileURLToPath(new URL(`../../${name}/`, import.meta.url)));
const CONSUMER = fileURLToPath(new URL("./consumer/", import.meta.url));
/** Server code that must never be named by the published declarations. */
const SERVER_MODULES = /from ['"](@warden\/|drizzle|postgres|fastify|bullmq|jsonwebtoken|@node-rs)/;

const durations: Record<string, number> = {};
async function timed<T>(step: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    durations[step] = Math.round(performance.now() - started);
  }
}

/** Runs a command to its end; a failing exit is a result here, not an exception. */
async function command(file: string, args: string[], cwd: string) {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof code === "number" ? code : 1, output: `${stdout ?? ""}${stderr ?? ""}` };
  }
}

async function mustSucceed(file: string, args: string[], cwd: string): Promise<string> {
  const result = await command(file, args, cwd);
  if (result.code !== 0) throw new Error(`${file} ${args.join(" ")} failed (${result.code}):\n${result.output}`);
  return result.output;
}

let scratch: string;
let system: WardenSystem;
let typecheck: { correct: { code: number; output: string }; wrong: { code: number; output: string } };
const children: Child[] = [];

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), "warden-consumer-"));
  const tarballs = path.join(scratch, "tarballs");
  await mkdir(tarballs);
  const privateKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const [started] = await Promise.all([
    // A short access-token lifetime, so the session below outlives one.
    startWardenSystem({
      env: {
        ACCESS_TOKEN_TTL: "2s",
        JWT_ALG: "ES256",
        JWT_PRIVATE_KEY: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
        JWT_ISSUER: "warden",
        JWT_AUDIENCE: "warden",
      },
    }),
    timed("build both packages", () => Promise.all(PACKAGES.map((dir) => mustSucceed("pnpm", ["run", "build"], dir)))),
  ]);
  system = started;
  await timed("pack both packages", () =>
    Promise.all(PACKAGES.map((dir) => mustSucceed("pnpm", ["pack", "--pack-destination", tarballs], dir))),
  );
  const packed = (await readdir(tarballs)).filter((f) => f.endsWith(".tgz"));
  const tarball = (name: string) => `file:./tarballs/${packed.find((f) => f.startsWith(`warden-${name}-`))}`;
  await writeFile(
    path.join(scratch, "package.json"),
    JSON.stringify({
      name: "warden-consumer",
      private: true,
      type: "module",
      dependencies: {
        "@warden/client": tarball("client"),
        "@warden/verifier": tarball("verifier"),
        express: "^5.2.1",
      },
      devDependencies: { "@types/node": "^20.19.0", typescript: "~5.9.3" },
    }),
  );
  // npm's cache answers for what it has seen before: a repeated run downloads nothing.
  await timed("npm install", () =>
    mustSucceed(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"],
      scratch,
    ),
  );
  for (const file of await readdir(CONSUMER)) await cp(path.join(CONSUMER, file), path.join(scratch, file));
  // The scratch project's own TypeScript. The wrong use is checked second, reusing what the first
  // run found of the unchanged files (the libraries' declarations, skipLibCheck off) through the
  // incremental build info, so it checks little more than its own file.
  const tsc = (config: string) =>
    command(
      process.execPath,
      ["node_modules/typescript/bin/tsc", "-p", config, "--incremental", "--tsBuildInfoFile", ".tsbuildinfo"],
      scratch,
    );
  const correct = await timed("tsc --noEmit (correct use)", () => tsc("tsconfig.json"));
  const wrong = await timed("tsc --noEmit (wrong use)", () => tsc("tsconfig.wrong.json"));
  typecheck = { correct, wrong };
}, 600_000);

afterAll(async () => {
  for (const child of children) await child.stop();
  await system?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
  console.log(
    `@warden/client and @warden/verifier from their tarballs, measured durations:\n${Object.entries(durations)
      .map(([step, ms]) => `  ${step}: ${(ms / 1000).toFixed(1)} s`)
      .join("\n")}`,
  );
});

/** Runs a script of the scratch project with plain node and the environment given, nothing else. */
function scratchNode(script: string, env: Record<string, string>): Child {
  const child = spawnNode([script], baseEnv(env), { cwd: scratch });
  children.push(child);
  return child;
}

describe("@warden/client and @warden/verifier installed from their tarballs outside the monorepo", () => {
  it("the packed manifests are publishable: no development condition, no workspace dependency, no server types", async () => {
    for (const name of ["client", "verifier"]) {
      const dir = path.join(scratch, "node_modules/@warden", name);
      const manifest = JSON.parse(await readFile(path.join(dir, "package.json"), "utf8"));
      expect(manifest.private, name).toBeUndefined();
      expect(JSON.stringify(manifest.exports), name).not.toContain("development");
      expect(JSON.stringify(manifest.exports), name).not.toContain("src/");
      expect(
        Object.keys(manifest.dependencies).filter((dep) => dep.startsWith("@warden/")),
        name,
      ).toEqual([]);
      for (const file of (await readdir(path.join(dir, "dist"))).filter((f) => f.endsWith(".d.ts"))) {
        expect(await readFile(path.join(dir, "dist", file), "utf8"), `${name}/dist/${file}`).not.toMatch(SERVER_MODULES);
      }
    }
  });

  it("a correct use of the client and the verifier type-checks with NodeNext, strict and skipLibCheck off", () => {
    expect(typecheck.correct.output).toBe("");
    expect(typecheck.correct.code).toBe(0);
  });

  it("an unknown procedure, a wrong input and a missing one are type errors for the package's users", () => {
    expect(typecheck.wrong.code).not.toBe(0);
    const errors = typecheck.wrong.output.split("\n").filter((line) => line.includes("error TS"));
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/wrong\.ts\(5,\d+\): error TS2339: Property 'notAProcedure' does not exist on type/);
    expect(errors[1]).toMatch(/wrong\.ts\(6,\d+\): error TS2322: Type 'number' is not assignable to type 'string'\./);
    expect(errors[2]).toMatch(
      /wrong\.ts\(7,\d+\): error TS2345: Argument of type '\{ token: string; \}' is not assignable to parameter of type '\{ token: string; newPassword: string; \}'\./,
    );
  });

  it("plain node signs up and in, is renewed past an access token's expiry, and gets WardenSessionEndedError after an admin revocation", async () => {
    const child = scratchNode("session.mjs", {
      WARDEN_URL: system.url,
      USER_EMAIL: `consumer-${randomUUID()}@example.com`,
      ADMIN_EMAIL: system.admin.email,
      ADMIN_PASSWORD: system.admin.password,
      STORE_FILE: path.join(scratch, "session.json"),
    });
    const { code } = await timed("session script (plain node)", () => child.exited);
    expect(code, child.stderr()).toBe(0);
    const seen = JSON.parse(child.stdout().trim().split("\n").at(-1)!);
    expect(seen).toMatchObject({ signedIn: true, callAfterExpiry: true, renewed: true, applied: true });
    expect(seen.error.sessionEnded).toBe(true);
    // The revoked session's access token is refused, or (had it expired meanwhile) its refresh.
    expect(["SESSION_REVOKED", "REFRESH_TOKEN_REVOKED"]).toContain(seen.error.reason);
    expect(seen.later).toBe("WardenSessionEndedError");
    expect(seen.ended).toEqual([seen.error.reason]);
  });

  it("a plain Express app protects a route with the verifier: 200 for a good token, 401 with the reason for a bad or revoked one", async () => {
    const started = performance.now();
    const child = scratchNode("orders-server.mjs", {
      WARDEN_URL: system.url,
      REDIS_URL,
      QUEUE_PREFIX: system.prefix,
    });
    const { port } = await waitFor(
      () => {
        if (child.process.exitCode !== null) throw new Error(`the Express app exited:\n${child.stderr()}`);
        const line = child.stdout().trim().split("\n")[0];
        return line ? (JSON.parse(line) as { port: number }) : undefined;
      },
      30_000,
      "the Express app listening",
    );
    const orders = async (authorization?: string) => {
      const res = await fetch(`http://127.0.0.1:${port}/orders`, authorization ? { headers: { authorization } } : {});
      return { status: res.status, body: (await res.json()) as { userId?: string; error?: { data: { reason: string } } } };
    };

    const user = createWardenClient({ url: system.url, store: memoryStore() });
    const { user: signedUp } = await user.signup({
      email: `orders-${randomUUID()}@example.com`,
      password: "correct horse battery",
    });
    const good = await orders(`Bearer ${await user.accessToken()}`);
    expect(good).toEqual({ status: 200, body: { userId: signedUp.id, role: "user" } });

    expect(await orders()).toMatchObject({ status: 401, body: { error: { data: { reason: "TOKEN_MISSING" } } } });
    const [header, payload] = (await user.accessToken())!.split(".");
    const forged = `Bearer ${header}.${payload}.${Buffer.alloc(64).toString("base64url")}`;
    expect(await orders(forged)).toMatchObject({ status: 401, body: { error: { data: { reason: "TOKEN_INVALID" } } } });

    const token = (await user.accessToken())!;
    const admin = createWardenClient({ url: system.url, store: memoryStore() });
    await admin.login(system.admin);
    const { eventId } = await admin.api.admin.revokeUser.mutate({ userId: signedUp.id, reason: "tarball test" });
    await waitFor(
      async () => (await admin.api.admin.revocation.query({ eventId })).status === "applied",
      10_000,
      "revocation applied",
    );
    const revoked = await waitFor(
      async () => {
        const res = await orders(`Bearer ${token}`);
        return res.status === 401 ? res : undefined;
      },
      5_000,
      "the revoked session refused",
    );
    expect(revoked.body.error?.data.reason).toBe("SESSION_REVOKED");
    durations["Express app (plain node)"] = Math.round(performance.now() - started);
  });
});
