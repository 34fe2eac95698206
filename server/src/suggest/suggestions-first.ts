// Suggestions come first. The language server counts its suggestion requests in flight in
// memory shared with the training thread, which waits while any is (before each sampling and
// each micro-batch), so a keystroke's suggestion never queues behind a training step.

export class SuggestionsFirst {
  private readonly inFlight: Int32Array;

  /** Over a new buffer (the server), or the one the server handed a training thread. */
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.inFlight = new Int32Array(buffer);
  }

  /** Runs a suggestion request, counted as in flight until it settles. */
  async serve<T>(request: () => Promise<T>): Promise<T> {
    Atomics.add(this.inFlight, 0, 1);
    try {
      return await request();
    } finally {
      Atomics.sub(this.inFlight, 0, 1);
      Atomics.notify(this.inFlight, 0);
    }
  }

  /** Blocks the calling (training) thread while suggestion requests are in flight. */
  readonly waitForSuggestions = (): void => {
    for (let n = Atomics.load(this.inFlight, 0); n > 0; n = Atomics.load(this.inFlight, 0)) Atomics.wait(this.inFlight, 0, n, 50);
  };
}
