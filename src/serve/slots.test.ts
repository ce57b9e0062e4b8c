import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Slots } from './slots.ts';

describe('Slots', () => {
  it('runs at most `size` tasks at once, in arrival order, and frees a slot when a task throws', async () => {
    const slots = new Slots(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const gates = Array.from({ length: 5 }, () => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => { resolve = r; });
      return { promise, resolve };
    });
    const tasks = gates.map((g, i) => slots.run(async () => {
      started.push(i);
      running++;
      most = Math.max(most, running);
      await g.promise;
      running--;
      if (i === 1) throw new Error('task 1 failed');
      return i;
    }).then((v) => ({ ok: v }), (e: unknown) => ({ failed: (e as Error).message })));
    // Let the first two start; release them and the rest one by one.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, [0, 1]);
    for (const g of gates) {
      g.resolve();
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await Promise.all(tasks), [{ ok: 0 }, { failed: 'task 1 failed' }, { ok: 2 }, { ok: 3 }, { ok: 4 }]);
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.equal(most, 2);
  });
});
