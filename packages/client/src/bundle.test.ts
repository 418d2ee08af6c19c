import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build as bundle } from "esbuild";
import { build } from "tsup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import config from "../tsup.config.js";
import { startCountingServer } from "@warden/testing";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
/** Names of server-side code that must never reach a browser or a worker through the client. */
const SERVER_CODE = [
  /fastify/i,
  /drizzle/i,
  /postgres/i,
  /bullmq/i,
  /jsonwebtoken/i,
  /argon2/i,
  /jwt\.sign/,
  /ioredis/i,
  /@warden\/(api|auth|db)\b/,
];

let outDir: string;
beforeAll(async () => {
  // The same build as `pnpm build` (minus declarations), into a directory of its own.
  outDir = await mkdtemp(path.join(os.tmpdir(), "warden-client-dist-"));
  const { entry } = config as { entry: Record<string, string> };
  await build({
    ...(config as object),
    entry: Object.fromEntries(Object.entries(entry).map(([name, file]) => [name, path.join(packageDir, file)])),
    tsconfig: path.join(packageDir, "tsconfig.json"),
    outDir,
    dts: false,
    silent: true,
    config: false,
    clean: false,
    sourcemap: false,
    // metafile-esm.json: every file the build took in.
    metafile: true,
  } as never);
}, 120_000);
afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

function serverCodeIn(text: string): string[] {
  return SERVER_CODE.filter((pattern) => pattern.test(text)).map(String);
}

describe("built @warden/client (browser entry)", () => {
  it("contains no server code", async () => {
    const files = (await readdir(outDir)).filter((f) => f.endsWith(".js"));
    expect(files).toContain("index.js");
    expect(files).toContain("node.js");
    for (const file of files) expect(serverCodeIn(await readFile(path.join(outDir, file), "utf8")), file).toEqual([]);
  });

  it("takes no zod in: what it needs of @warden/contracts (the cookie header, the public procedures) comes without the schemas", async () => {
    const { inputs } = JSON.parse(await readFile(path.join(outDir, "metafile-esm.json"), "utf8")) as { inputs: object };
    const taken = Object.keys(inputs);
    expect(taken.some((file) => file.includes("contracts/src/procedures.ts"))).toBe(true);
    expect(taken.filter((file) => /[\\/]zod[\\/]/.test(file))).toEqual([]);
  });

  it("bundles for the browser with every dependency inlined: no Node built-ins, no server code", async () => {
    const result = await bundle({
      entryPoints: [path.join(outDir, "index.js")],
      bundle: true,
      platform: "browser",
      format: "esm",
      // As an app would ship it; this also drops the comments naming pnpm's store paths.
      minify: true,
      write: false,
      absWorkingDir: packageDir,
      nodePaths: [path.join(packageDir, "node_modules")],
      logLevel: "silent",
    });
    const text = result.outputFiles[0]!.text;
    await writeFile(path.join(outDir, "browser-bundle.mjs"), text);
    expect(text).toContain("x-warden-cookie");
    expect(text).not.toMatch(/from ["'](node:)?(fs|path|os|crypto|child_process)["']/);
    expect(serverCodeIn(text)).toEqual([]);
  });

  it("the browser bundle signs up and calls a real server (web storage store)", async () => {
    const server = await startCountingServer();
    try {
      const bundled = await import(pathToFileURL(path.join(outDir, "browser-bundle.mjs")).href);
      const items = new Map<string, string>();
      const storage = {
        getItem: (k: string) => items.get(k) ?? null,
        setItem: (k: string, v: string) => void items.set(k, v),
        removeItem: (k: string) => void items.delete(k),
      };
      const warden = bundled.createWardenClient({ url: server.url, store: bundled.webStorageStore(storage) });
      const { user } = await warden.signup({ email: `bundle-${randomUUID()}@example.com`, password: "correct horse battery" });
      expect((await warden.api.auth.me.query()).user).toEqual(user);
      expect(() => bundled.fileStore("/tmp/x")).toThrow(/needs Node/);
      const error = await warden.api.admin.audit.query({}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(bundled.WardenError);
      expect((error as { reason: string }).reason).toBe("FORBIDDEN");
    } finally {
      await server.close();
    }
  });
});
