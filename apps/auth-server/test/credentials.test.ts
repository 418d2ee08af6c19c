import type * as Argon2 from "@node-rs/argon2";
import * as argon2 from "@node-rs/argon2";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { normalizeEmail } from "@warden/contracts";
import { users } from "@warden/db";
import fc from "fast-check";
import { PASSWORD, startTestServer, type TestServer } from "@warden/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

// The real argon2, watched: tests compare the work each path does, not wall time.
vi.mock("@node-rs/argon2", async (importOriginal) => {
  const real = await importOriginal<typeof Argon2>();
  return { ...real, hash: vi.fn(real.hash), verify: vi.fn(real.verify) };
});
const verifySpy = vi.mocked(argon2.verify);
const hashSpy = vi.mocked(argon2.hash);

let t: TestAuth;
let server: TestServer;
const tag = Math.random().toString(36).slice(2, 8);
const at = (local: string) => `${local}-${tag}@example.com`;

beforeAll(async () => {
  t = await createTestAuth();
  server = await startTestServer(t.auth);
});
afterAll(async () => {
  await server.close();
  await t.close();
});
beforeEach(() => {
  verifySpy.mockClear();
  hashSpy.mockClear();
});

const signup = (email: string, password = PASSWORD) => server.post("/trpc/auth.signup", { email, password });
const login = (email: string, password = PASSWORD) => server.post("/trpc/auth.login", { email, password });
const reason = (res: { body: any }) => res.body?.error?.data?.reason as string | undefined;

describe("login work does not depend on whether the email exists", () => {
  it("an unknown email and a wrong password each run exactly one argon2id verify with the same parameters", async () => {
    await signup(at("timing"));
    // Warm the dummy hash so its one-time creation is not counted below.
    await login(at("nobody-warm"));
    verifySpy.mockClear();
    hashSpy.mockClear();

    const unknown = await login(at("nobody"), "some wrong password");
    expect(reason(unknown)).toBe("INVALID_CREDENTIALS");
    expect(verifySpy).toHaveBeenCalledTimes(1);
    const [dummyHash, triedUnknown] = verifySpy.mock.calls[0]!;
    expect(triedUnknown).toBe("some wrong password");

    verifySpy.mockClear();
    const wrong = await login(at("timing"), "some wrong password");
    expect(reason(wrong)).toBe("INVALID_CREDENTIALS");
    expect(verifySpy).toHaveBeenCalledTimes(1);
    const [realHash] = verifySpy.mock.calls[0]!;

    // Same algorithm, version and cost (m, t, p): the same work, and the same answer body.
    const params = (h: unknown) => String(h).split("$").slice(1, 4).join("$");
    expect(params(dummyHash)).toBe("argon2id$v=19$m=19456,t=2,p=1");
    expect(params(realHash)).toBe(params(dummyHash));
    expect(hashSpy).not.toHaveBeenCalled();
    expect(unknown.status).toBe(wrong.status);
    expect(unknown.body).toEqual(wrong.body);
  });
});

describe("email canonicalisation", () => {
  it("NFD and NFC spellings are one account", async () => {
    const nfc = at("jos\u00e9");
    const nfd = nfc.normalize("NFD");
    expect(nfd).not.toBe(nfc);
    expect((await signup(nfc)).status).toBe(200);
    expect(reason(await signup(nfd))).toBe("EMAIL_TAKEN");
    expect((await login(nfd)).status).toBe(200);
  });

  it("the Kelvin sign is canonically K: it reaches the same account, it cannot create a twin", async () => {
    const plain = at("kate");
    expect((await signup(plain)).status).toBe(200);
    const kelvin = at("\u212Aate");
    expect(reason(await signup(kelvin))).toBe("EMAIL_TAKEN");
    expect((await login(kelvin)).body.result.data.user.email).toBe(plain);
  });

  it("lower-casing is not case folding: ß stays distinct from ss, dotless ı from i (separate accounts, never a takeover)", async () => {
    const sharp = at("stra\u00dfe");
    expect((await signup(sharp)).status).toBe(200);
    expect(reason(await signup(at("STRA\u00dfE")))).toBe("EMAIL_TAKEN");
    const ss = await signup(at("strasse"));
    expect(ss.status).toBe(200);
    expect(ss.body.result.data.user.id).not.toBe((await login(sharp)).body.result.data.user.id);

    const dotted = at("admin");
    const dotless = at("adm\u0131n");
    expect((await signup(dotted)).status).toBe(200);
    const other = await signup(dotless);
    expect(other.status).toBe(200);
    expect(other.body.result.data.user.email).toBe(dotless);
    // Capital dotted İ lower-cases to i + U+0307, which is not "i" either.
    expect(reason(await login(at("ADM\u0130N")))).toBe("INVALID_CREDENTIALS");
  });

  it("spellings that render alike are one account: ẖ and H + combining macron below", async () => {
    // Lower-casing H̱ gives h + U+0331, whose NFC is ẖ: normalising before lower-casing left it decomposed.
    const precomposed = at("\u1E96tag");
    const decomposedUpper = at("H\u0331tag");
    expect((await signup(precomposed)).status).toBe(200);
    expect(reason(await signup(decomposedUpper))).toBe("EMAIL_TAKEN");
    expect((await login(decomposedUpper)).body.result.data.user.email).toBe(precomposed);
  });

  it("every Default_Ignorable code point, control character and lone surrogate is refused in emails", async () => {
    const refused = [
      ["zero width space", "\u200b"],
      ["zero width joiner", "\u200d"],
      ["word joiner", "\u2060"],
      ["byte order mark", "\ufeff"],
      ["right-to-left override", "\u202e"],
      ["left-to-right isolate", "\u2066"],
      ["pop directional isolate", "\u2069"],
      ["soft hyphen", "\u00ad"],
      ["combining grapheme joiner", "\u034f"],
      ["Mongolian vowel separator", "\u180e"],
      ["Hangul filler", "\u3164"],
      ["variation selector 16", "\ufe0f"],
      ["variation selector 17", "\u{e0100}"],
      ["tag latin small a", "\u{e0061}"],
      ["language tag", "\u{e0001}"],
      ["NUL", "\u0000"],
      ["BEL", "\u0007"],
      ["DEL", "\u007f"],
      ["C1 NEL", "\u0085"],
      ["lone high surrogate", "\ud800"],
      ["lone low surrogate", "\udc00"],
    ];
    for (const [name, bad] of refused) {
      const res = await signup(at(`ali${bad}ce`));
      expect(res.status, name).toBe(400);
      expect(reason(res), name).toBe("VALIDATION_FAILED");
    }
  });
});

/** SPEC's definition, written independently of the implementation. */
const specCanonical = (raw: string) => raw.trim().toLowerCase().normalize("NFC");

/** Characters where case and composition interact: letters whose case pairs compose differently, marks, singletons. */
const TRICKY = [
  ..."AaHhJjTtWwYyKkSsIiEe",
  "\u1E96",
  "\u01F0",
  "\u1E97",
  "\u1E98",
  "\u1E99", // ẖ ǰ ẗ ẘ ẙ: lower-case only precomposed
  "\u0331",
  "\u030C",
  "\u0308",
  "\u030A",
  "\u0301",
  "\u0307",
  "\u0345", // combining marks
  "\u212A",
  "\u212B",
  "\u2126",
  "\u00C5",
  "\u00E5",
  "\u00DF",
  "\u1E9E",
  "\u0131",
  "\u0130",
  "\u03A3",
  "\u03C2",
];
const trickyChar = fc.oneof(fc.constantFrom(...TRICKY), fc.string({ unit: "binary", minLength: 1, maxLength: 1 }));
const anyUnicode = fc.oneof(
  fc.string({ unit: trickyChar, maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme-composite", maxLength: 12 }),
);

describe("email canonicalisation, properties", () => {
  it("canonical(canonical(x)) = canonical(x), and the result is NFC and lower-case, for arbitrary unicode", () => {
    fc.assert(
      fc.property(anyUnicode, (raw) => {
        const once = normalizeEmail(raw);
        expect(normalizeEmail(once)).toBe(once);
        expect(once.normalize("NFC")).toBe(once);
        expect(once.toLowerCase()).toBe(once);
        expect(once).toBe(specCanonical(raw));
      }),
      { numRuns: 5000 },
    );
  });

  it("two inputs with the same canonical form can never both sign up (real API and database)", async () => {
    const localPart = fc.string({ unit: fc.constantFrom(...TRICKY), minLength: 1, maxLength: 6 });
    // Ways to write the same address again; some (upper-casing ß or ı) change it, which the property allows.
    const respell = fc.constantFrom<(s: string) => string>(
      (s) => s.toUpperCase(),
      (s) => s.normalize("NFD"),
      (s) => s.toUpperCase().normalize("NFD"),
      (s) => s.toLowerCase().normalize("NFD"),
      (s) => ` ${s.replace(/k/g, "\u212A")}\t`,
      (s) => s.normalize("NFC").toUpperCase(),
    );
    let run = 0;
    let sameCanonical = 0;
    await fc.assert(
      fc.asyncProperty(localPart, respell, async (local, rewrite) => {
        const first = `${local}-p${run}-${tag}@corp.test`;
        const second = rewrite(first);
        run++;
        const a = await signup(first);
        expect(a.status, JSON.stringify(first)).toBe(200);
        expect(a.body.result.data.user.email).toBe(specCanonical(first));
        const b = await signup(second);
        if (specCanonical(first) === specCanonical(second)) {
          sameCanonical++;
          expect(reason(b), `${JSON.stringify(first)} then ${JSON.stringify(second)}`).toBe("EMAIL_TAKEN");
        } else if (b.status === 200) {
          expect(b.body.result.data.user.email).toBe(specCanonical(second));
        }
      }),
      { numRuns: 30 },
    );
    expect(sameCanonical).toBeGreaterThan(8);
  });
});

describe("passwords are used exactly as given", () => {
  it("a 1 MB password is refused by the HTTP layer (413) and a 1025-character one by validation, with no hashing", async () => {
    const huge = await signup(at("huge"), "p".repeat(1024 * 1024));
    expect(huge.status).toBe(413);
    const long = await signup(at("long"), "p".repeat(1025));
    expect(reason(long)).toBe("VALIDATION_FAILED");
    const longLogin = await login(at("long"), "p".repeat(1025));
    expect(reason(longLogin)).toBe("VALIDATION_FAILED");
    expect(hashSpy).not.toHaveBeenCalled();
    expect(verifySpy).not.toHaveBeenCalled();
    const rows = await t.database.db.select({ email: users.email }).from(users);
    expect(rows.map((r) => r.email)).not.toContain(at("huge"));
  });

  it("NUL bytes are kept: the password is not cut at the NUL", async () => {
    const email = at("nul");
    expect((await signup(email, "prefix12\u0000suffix34")).status).toBe(200);
    expect(reason(await login(email, "prefix12"))).toBe("INVALID_CREDENTIALS");
    expect(reason(await login(email, "prefix12\u0000"))).toBe("INVALID_CREDENTIALS");
    expect(reason(await login(email, "prefix12\u0000suffix35"))).toBe("INVALID_CREDENTIALS");
    expect((await login(email, "prefix12\u0000suffix34")).status).toBe(200);
  });

  it("emoji passwords work, and a different emoji or another normal form is a different password", async () => {
    const email = at("emoji");
    // Lengths count code points: four emoji are 8 UTF-16 units but only 4 characters, too short.
    expect(reason(await signup(email, "🔐🦄🔐🦄"))).toBe("VALIDATION_FAILED");
    const emoji = "🔐🦄🔐🦄🔐🦄🔐🦄";
    expect((await signup(email, emoji)).status).toBe(200);
    expect((await login(email, emoji)).status).toBe(200);
    expect(reason(await login(email, "🔐🦄🔐🦄🔐🦄🔐🐴"))).toBe("INVALID_CREDENTIALS");
    const accent = at("accent");
    expect((await signup(accent, "caf\u00e9-caf\u00e9")).status).toBe(200);
    expect(reason(await login(accent, "caf\u00e9-caf\u00e9".normalize("NFD")))).toBe("INVALID_CREDENTIALS");
  });
});
