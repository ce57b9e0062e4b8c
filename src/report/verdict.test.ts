import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verdictSentences, type VerdictFigures } from './verdict.ts';

const base: VerdictFigures = {
  macsSaved: 0.144, earlyRate: 0.227, agreement: 0.9898, tolerance: 0.02,
  latency: { saved: 0.081, ci95: [0.02, 0.13], blocks: 40, blockSize: 50 }, throughputRatio: 1.15, overlapsBuild: false, exits: 1,
};

describe('the report\'s verdict', () => {
  it('says the savings and whether the agreement the bundle was built for was met', () => {
    const [first, second, third] = verdictSentences(base);
    assert.equal(first, "The bundle answers 22.7% of these samples early and saves 14.4% of the backbone's MACs per sample, agreeing with the backbone on 98.98% of them (built for at least 98%: met on these samples).");
    assert.equal(second, "Timed beside the backbone in this run: mean batch-1 latency 8.1% lower (95% interval of the saving 2.0% to 13.0%); batch-64 throughput 1.15× the backbone's. Separate runs can differ more than this run's interval.");
    assert.equal(third, undefined);
    assert.match(verdictSentences({ ...base, agreement: 0.9799 })[0]!, /built for at least 98%: not met on these samples/);
    assert.doesNotMatch(verdictSentences({ ...base, tolerance: null })[0]!, /built for/);
    // Exactly at the target, though 1 − 0.059 is 0.9410000000000001 in floating point.
    assert.match(verdictSentences({ ...base, tolerance: 0.059, agreement: 0.941 })[0]!, /built for at least 94\.1%: met/);
    // Heads that cost more than their exits save.
    assert.match(verdictSentences({ ...base, macsSaved: -0.002 })[0]!, /early and spends 0\.2% more MACs per sample than the backbone \(its heads cost more than its exits save\), agreeing/);
  });

  it('says a slower bundle is slower, and an interval that includes zero is no clear change', () => {
    const slower = verdictSentences({ ...base, latency: { ...base.latency, saved: -0.2, ci95: [-0.3, -0.1] }, throughputRatio: 0.53 })[1]!;
    assert.equal(slower, "Timed beside the backbone in this run: mean batch-1 latency 20.0% higher (95% interval of the saving −30.0% to −10.0%); batch-64 throughput 0.53× the backbone's, lower. Separate runs can differ more than this run's interval.");
    const unclear = verdictSentences({ ...base, latency: { ...base.latency, saved: -0.061, ci95: [-0.234, 0.074] } })[1]!;
    assert.match(unclear, /no clear change in mean batch-1 latency \(6\.1% higher; the 95% interval of the saving, −23\.4% to 7\.4%, includes zero\)/);
    // Without an interval (too few blocks), the mean alone.
    assert.match(verdictSentences({ ...base, latency: { ...base.latency, ci95: null } })[1]!, /latency 8\.1% lower; batch-64 throughput 1\.15× the backbone's\.$/);
  });

  it('says a bundle without exits saves nothing, and warns when the samples overlap the build\'s', () => {
    assert.equal(verdictSentences({ ...base, exits: 0 })[0], 'The bundle keeps no exit: it runs the backbone alone and saves nothing.');
    assert.match(verdictSentences({ ...base, overlapsBuild: true })[2]!, /^Warning: these samples overlap the records the bundle was built from/);
  });
});
