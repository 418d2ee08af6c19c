import { describe, expect, it } from "vitest";
import { generateRefreshToken, generateSuccessorSalt } from "./tokens.js";

describe("random tokens and salts", () => {
  it("are 256 and 128 bits, each drawn once: no two alike across many pages of the random pool", () => {
    const seen = new Set<string>();
    const bytes = new Set<number>();
    for (let i = 0; i < 5_000; i++) {
      const token = generateRefreshToken();
      const salt = generateSuccessorSalt();
      expect(Buffer.from(token, "base64url")).toHaveLength(32);
      expect(Buffer.from(salt, "base64url")).toHaveLength(16);
      seen.add(token).add(salt);
      for (const b of Buffer.from(token, "base64url")) bytes.add(b);
    }
    expect(seen.size).toBe(10_000);
    // Not a run of one value: every byte value turns up in 160,000 random bytes.
    expect(bytes.size).toBe(256);
  });
});
