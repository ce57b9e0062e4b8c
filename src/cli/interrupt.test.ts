import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/support/temp-dir.ts';
import { writeDirAtomic } from '../files/index.ts';
import { stopUndoOnInterrupt, undoWritesOnInterrupt } from './interrupt.ts';

describe('an interrupted command', () => {
  it('undoes its unfinished write, says so, and ends by the signal raised again (its handlers removed first)', async () => {
    const root = await tempDir('interrupt');
    const signals = new EventEmitter();
    let err = '';
    const kills: string[] = [];
    const io = { out: () => {}, err: (s: string) => void (err += s), isTty: false, killBySignal: (s: string) => void kills.push(s) };
    undoWritesOnInterrupt(io, signals);
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
    assert.deepEqual(kills, ['SIGTERM']);
    assert.equal(err, 'layercache: SIGTERM: interrupted; the output being written was removed\n');
    assert.equal(signals.listenerCount('SIGTERM'), 0, 'removed before the signal is raised again, so that its default action ends the process');
    assert.deepEqual(await fs.readdir(root), [], 'no temporary bundle left');
    release();
    await assert.rejects(write);
    undoWritesOnInterrupt(io, signals);
    signals.emit('SIGINT');
    assert.deepEqual(kills, ['SIGTERM', 'SIGINT']);
    assert.match(err, /SIGINT: interrupted\n$/, 'nothing under way: nothing said removed');
    stopUndoOnInterrupt();
    assert.equal(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM') + signals.listenerCount('SIGHUP'), 0);
  });
});
