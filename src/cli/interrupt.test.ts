import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/support/temp-dir.ts';
import { writeDirAtomic } from '../files/index.ts';
import { stopUndoOnInterrupt, undoWritesOnInterrupt } from './interrupt.ts';

describe('an interrupted command', () => {
  it('undoes its unfinished write, says so, and exits with 128 + the signal; the handlers go with stopUndoOnInterrupt', async () => {
    const root = await tempDir('interrupt');
    const signals = new EventEmitter();
    let err = '';
    const exits: number[] = [];
    undoWritesOnInterrupt({ out: () => {}, err: (s) => void (err += s), isTty: false, exitNow: (c) => void exits.push(c) }, signals);
    undoWritesOnInterrupt({ out: () => {}, err: () => assert.fail('installed twice'), isTty: false }, signals);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const filling = new Promise<void>((r) => (entered = r));
    const write = writeDirAtomic(path.join(root, 'bundle'), async (tmp) => {
      await fs.writeFile(path.join(tmp, 'segment'), 'x');
      entered();
      await held;
    });
    await filling;
    signals.emit('SIGTERM');
    assert.deepEqual(exits, [143]);
    assert.equal(err, 'layercache: SIGTERM: interrupted; the output being written was removed (an earlier one is as it was)\n');
    assert.deepEqual(await fs.readdir(root), [], 'no temporary bundle left');
    release();
    await assert.rejects(write);
    signals.emit('SIGINT');
    assert.deepEqual(exits, [143, 130]);
    assert.match(err, /SIGINT: interrupted\n$/, 'nothing under way: nothing said removed');
    stopUndoOnInterrupt();
    assert.equal(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM') + signals.listenerCount('SIGHUP'), 0);
  });
});
