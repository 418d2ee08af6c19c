import { describe, expect, it } from "vitest";
import { Batcher } from "./batcher.js";

/** A run function the test finishes by hand: each batch it was given, and a way to answer it. */
function manualRun() {
  const batches: { inputs: string[]; finish: (error?: Error) => void }[] = [];
  const run = (inputs: string[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push({ inputs, finish: (error) => (error ? reject(error) : resolve(inputs.map((i) => `done ${i}`))) });
    });
  return { batches, run };
}

const tick = () => new Promise((r) => setImmediate(r));
const byKey = (input: string) => input.split(":")[0]!;

describe("Batcher", () => {
  it("sends a call at once while a slot is free, and what arrives while every slot is busy together next", async () => {
    const { batches, run } = manualRun();
    const batcher = new Batcher(run, { maxInFlight: 2, maxBatch: 10, key: byKey });
    const results = ["a", "b", "c", "d", "e"].map((x) => batcher.submit(x));
    expect(batches.map((b) => b.inputs)).toEqual([["a"], ["b"]]);
    batches[0]!.finish();
    await tick();
    expect(batches.map((b) => b.inputs)).toEqual([["a"], ["b"], ["c", "d", "e"]]);
    batches[1]!.finish();
    batches[2]!.finish();
    expect(await Promise.all(results)).toEqual(["done a", "done b", "done c", "done d", "done e"]);
  });

  it("never puts two calls with one key in a batch, and keeps at most maxBatch in one", async () => {
    const { batches, run } = manualRun();
    const batcher = new Batcher(run, { maxInFlight: 1, maxBatch: 2, key: byKey });
    const results = ["x:1", "x:2", "y:1", "z:1", "x:3"].map((x) => batcher.submit(x));
    for (let i = 0; i < 4; i++) {
      batches.at(-1)!.finish();
      await tick();
    }
    expect(batches.map((b) => b.inputs)).toEqual([["x:1"], ["x:2", "y:1"], ["z:1", "x:3"]]);
    expect(await Promise.all(results)).toHaveLength(5);
  });

  it("a failed batch fails its own calls only", async () => {
    const { batches, run } = manualRun();
    const batcher = new Batcher(run, { maxInFlight: 1, maxBatch: 10, key: byKey });
    const first = batcher.submit("a");
    const rest = ["b", "c"].map((x) => batcher.submit(x));
    batches[0]!.finish(new Error("connection lost"));
    await expect(first).rejects.toThrow("connection lost");
    await tick();
    batches[1]!.finish();
    expect(await Promise.all(rest)).toEqual(["done b", "done c"]);
  });
});
