/**
 * The retrain schedule when retrains find nothing: served from a bare model, each retrain in a row that keeps no
 * exit doubles the wait for the next (a soak run retrained back to back, 97% of the time, saving a 0-exit
 * version every 35 s).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { loadConfig } from '../config/index.ts';
import { saveModel } from '../onnx/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import { tempDir } from '../../test/support/temp-dir.ts';
import { residualNet } from '../../test/support/models.ts';
import { startServer } from './server.ts';
import { VersionStore } from './version-store.ts';
import { MAX_BACKOFF_DOUBLINGS, RetrainSchedule } from './retrain-schedule.ts';

let dir: string;
const sample = 3 * 8 * 8;

before(async () => {
  dir = await tempDir('schedule');
});

describe('RetrainSchedule', () => {
  it('first after retrainAfter samples, then every retrainEvery more', () => {
    const s = new RetrainSchedule(500, 200);
    assert.equal(s.isDue(499), false);
    assert.equal(s.isDue(500), true);
    s.started(510);
    // Samples that came while it ran count towards the next: one that added an exit counts from its start.
    s.finished(true, 650);
    assert.equal(s.isDue(709), false);
    assert.equal(s.isDue(710), true);
  });

  it('each fruitless retrain in a row doubles the wait, up to 2^MAX_BACKOFF_DOUBLINGS; one that adds an exit resets it', () => {
    const s = new RetrainSchedule(100, 100);
    const waits: number[] = [];
    let total = 100;
    for (let k = 0; k < MAX_BACKOFF_DOUBLINGS + 2; k++) {
      s.started(total);
      // Traffic brings 1,000 samples while each retrain runs, more than any wait: a fruitless retrain's wait counts
      // from its end, or every retrain would start as the last one ends.
      total += 1000;
      s.finished(false, total);
      waits.push(s.nextWait);
      assert.equal(s.isDue(total), false, `retrain ${k + 1}: the next waits`);
      assert.equal(s.isDue(total + s.nextWait), true);
    }
    assert.deepEqual(waits, [200, 400, 800, 800, 800]);
    s.finished(true, total);
    assert.equal(s.nextWait, 100);
  });

  it('a guard action resets the backoff: the next retrain waits retrainEvery from the last, and dueAt says when', () => {
    const s = new RetrainSchedule(100, 100);
    s.started(100);
    s.finished(false, 1100);
    s.started(1300);
    s.finished(false, 1400);
    assert.deepEqual([s.nextWait, s.dueAt], [400, 1800]);
    s.resetBackoff();
    assert.deepEqual([s.nextWait, s.dueAt, s.isDue(1499), s.isDue(1500)], [100, 1500, false, true]);
  });

  it('a failed retrain (started, never finished) keeps the wait; a restored schedule resumes from its last retrain', () => {
    const s = new RetrainSchedule(100, 50);
    s.started(100);
    s.finished(false, 100);
    s.started(200);
    assert.equal(s.nextWait, 100, 'the unfinished retrain changed nothing');
    const r = new RetrainSchedule(100, 50);
    r.restore({ lastRetrainAt: 300, fruitlessRetrains: 0 });
    assert.equal(r.isDue(349), false, 'not the first retrain again');
    assert.equal(r.isDue(350), true);
    assert.equal(r.lastRetrainAt, 300);
    // The backoff is restored too: two fruitless retrains in a row wait 4 × 50.
    const backedOff = new RetrainSchedule(100, 50);
    backedOff.restore({ lastRetrainAt: 300, fruitlessRetrains: 2 });
    assert.equal(backedOff.isDue(499), false);
    assert.equal(backedOff.isDue(500), true);
    assert.deepEqual(backedOff.state, { lastRetrainAt: 300, fruitlessRetrains: 2 });
  });

  it('a retrain abandoned at shutdown counts as never started', () => {
    const s = new RetrainSchedule(100, 50);
    s.started(100);
    s.finished(true, 120);
    s.started(150);
    s.abandoned();
    assert.equal(s.lastRetrainAt, 100);
    assert.equal(s.isDue(150), true, 'due again at once');
  });
});

describe('retrain schedule', () => {
  it('a retrain that keeps no exit while none is served doubles the wait for the next', { timeout: 120_000 }, async () => {
    const modelFile = path.join(dir, 'tiny.onnx');
    await saveModel(residualNet().model, modelFile);
    const state = path.join(dir, 'state');
    const lines: string[] = [];
    const s = await startServer(modelFile, loadConfig({
      engine: { intraOpThreads: 1 },
      // MACs as the objective (no runtime check, no timing in the outcome); one epoch of a small MLP head keeps no exit at 1%.
      build: { tolerance: 0.01, objective: 'macs', folds: 2, epochs: 1, family: [{ pool: 2, hidden: 4, dropout: 0 }], measureReps: 3 },
      serve: { name: 'tiny', log: 'info', stateDir: state, online: { retrainAfter: 60, retrainEvery: 30 } },
    }, {}), { write: (l) => void lines.push(l) });
    const x = randomNormal(seededRng(8), 200 * sample);
    let sent = 0;
    const send = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++, sent++) {
        const data = Array.from(x.subarray((sent % 200) * sample, (sent % 200 + 1) * sample));
        const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: { inputs: [{ name: 'image', shape: [1, 3, 8, 8], datatype: 'FP32', data }] } });
        assert.equal(res.statusCode, 200, res.body);
      }
      await s.online.idle();
    };
    const retrains = (): number => s.online.status().retrains;
    try {
      await send(60);
      assert.deepEqual([s.online.status().version, s.online.status().exits, retrains()], [1, 0, 1], lines.join(''));
      assert.ok(lines.some((l) => /^retrain: version 1 keeps no exit, as the version before it; the next retrain waits for 60 new samples$/.test(JSON.parse(l).msg)), lines.join(''));
      // Due at 60 + 2 × 30 admitted samples, not 60 + 30.
      await send(59);
      assert.equal(retrains(), 1, 'no retrain before 120 samples');
      await send(1);
      assert.equal(retrains(), 2, 'the retrain due at 120');
      assert.ok(lines.some((l) => /^retrain: version 2 keeps no exit, as the version before it; the next retrain waits for 120 new samples$/.test(JSON.parse(l).msg)), lines.join(''));
      assert.deepEqual(await new VersionStore(state).list(), [2, 1]);
    } finally {
      await s.close();
    }
  });
});
