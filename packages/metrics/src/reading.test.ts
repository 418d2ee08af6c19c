import { describe, expect, it } from "vitest";
import { scrapeReading } from "./reading.js";

describe("scrape-time readings", () => {
  it("a dependency that never answers gives undefined within the timeout, and is not read again meanwhile", async () => {
    let reads = 0;
    const reading = scrapeReading(() => {
      reads++;
      return new Promise<number>(() => {});
    }, 50);
    const started = performance.now();
    expect(await reading()).toBeUndefined();
    expect(await reading()).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(reads).toBe(1);
  });

  it("callers during one read share it; a failed read gives undefined and the next scrape reads again", async () => {
    let reads = 0;
    let fail = false;
    const reading = scrapeReading(async () => {
      reads++;
      await new Promise((r) => setTimeout(r, 10));
      if (fail) throw new Error("down");
      return reads;
    }, 1_000);
    expect(await Promise.all([reading(), reading(), reading()])).toEqual([1, 1, 1]);
    fail = true;
    expect(await reading()).toBeUndefined();
    fail = false;
    expect(await reading()).toBe(3);
  });
});
