/**
 * A counting semaphore: at most `size` tasks run at once; the others wait their turn, first come first served.
 * Invariant: a slot is given back when its task settles, whether it resolved or threw.
 */
export class Slots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, if any (running stays the same).
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
