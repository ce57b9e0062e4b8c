import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BuildReport } from './build-report.ts';
import { whyNoExit } from './build-report.ts';

/** The parts of a report whyNoExit reads. */
const report = (checks: { exits: number[]; ratio: number }[], deployed: number): BuildReport => ({
  latencyBatch: 1,
  checks: checks.map((c) => ({ ...c, backboneMs: 1, cascadeMs: c.ratio, reused: false })),
  deployedChecks: Array.from({ length: deployed }, () => ({ exit: 0, agreement: 0.9 })),
}) as unknown as BuildReport;

describe('build: why no exit was kept', () => {
  it('names the runtime checks that refused feasible selections, else the agreement requirement', () => {
    assert.equal(whyNoExit(report([{ exits: [3], ratio: 1.012 }], 0)),
      'Exits met the agreement requirement, but on the runtime check no selection was faster than the backbone at batch 1 (candidates and cascade ÷ backbone time: [3] 1.012×)');
    assert.equal(whyNoExit(report([], 0)), 'No exit met the agreement requirement on the calibration samples');
    assert.equal(whyNoExit(report([], 2)), 'No exit met the agreement requirement on the calibration samples (2 exits were dropped because the deployed heads did not answer as calibrated)');
  });
});
