export interface BatcherOptions<In> {
  /** Batches running at once; what arrives while they all run waits for the next one. */
  maxInFlight: number;
  /** Calls per batch at most. */
  maxBatch: number;
  /** Calls with the same key never share a batch (the later one waits for the next). */
  key: (input: In) => string;
}

interface Waiting<In, Out> {
  input: In;
  resolve: (output: Out) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs the calls that arrive together as one batch. A call that finds a free slot goes out at once
 * (alone, it waits for nothing); calls that arrive while every slot is busy go out together when
 * one frees up. Under load, N round trips and N commits become one of each.
 */
export class Batcher<In, Out> {
  private waiting: Waiting<In, Out>[] = [];
  private inFlight = 0;

  constructor(
    private readonly run: (inputs: In[]) => Promise<Out[]>,
    private readonly options: BatcherOptions<In>,
  ) {}

  submit(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.inFlight < this.options.maxInFlight && this.waiting.length > 0) {
      const batch = this.take();
      this.inFlight++;
      void this.run(batch.map((call) => call.input))
        .then(
          (outputs) => batch.forEach((call, index) => call.resolve(outputs[index]!)),
          (error: unknown) => batch.forEach((call) => call.reject(error)),
        )
        .finally(() => {
          this.inFlight--;
          this.dispatch();
        });
    }
  }

  /** The oldest waiting calls, up to maxBatch, one per key; the others keep their place. */
  private take(): Waiting<In, Out>[] {
    const batch: Waiting<In, Out>[] = [];
    const rest: Waiting<In, Out>[] = [];
    const keys = new Set<string>();
    for (const call of this.waiting) {
      const key = this.options.key(call.input);
      if (batch.length < this.options.maxBatch && !keys.has(key)) {
        keys.add(key);
        batch.push(call);
      } else rest.push(call);
    }
    this.waiting = rest;
    return batch;
  }
}
