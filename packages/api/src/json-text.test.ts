import { describe, expect, it } from "vitest";
import { jsonTextOf, withJsonText } from "./json-text.js";

describe("withJsonText", () => {
  const value = () => ({ user: { id: "u", email: 'a"b@example.com', createdAt: 1796609502204 }, list: [{ n: 1.5 }] });

  it("carries the value's JSON, unseen by JSON.stringify, keys and equality", () => {
    const written = withJsonText(value());
    expect(jsonTextOf(written)).toBe(JSON.stringify(value()));
    expect(JSON.stringify(written)).toBe(JSON.stringify(value()));
    expect(Object.keys(written)).toEqual(["user", "list"]);
    expect(written).toEqual(value());
  });

  it("freezes the value and what it holds, so the text cannot go stale", () => {
    const written = withJsonText(value());
    expect(Object.isFrozen(written)).toBe(true);
    expect(Object.isFrozen(written.user)).toBe(true);
    expect(Object.isFrozen(written.list)).toBe(true);
    expect(Object.isFrozen(written.list[0])).toBe(true);
    expect(() => {
      (written.user as { email: string }).email = "changed@example.com";
    }).toThrow(TypeError);
    expect(jsonTextOf(written)).toBe(JSON.stringify(written));
  });

  it("has no text for anything else", () => {
    for (const other of [value(), null, undefined, "text", 1, [1]]) expect(jsonTextOf(other)).toBeUndefined();
  });
});
