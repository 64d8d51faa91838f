// Runs async tasks one at a time, in call order: a kernel instance is reset by every tensor it
// computes, so two computations on one instance must not interleave.
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.tail.then(fn);
    this.tail = r.catch(() => {});
    return r;
  }
}
