import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finalEpochs } from './crossfit.ts';
import { stepsPerEpoch } from './train-heads.ts';

describe('finalEpochs: the deployed heads run the optimiser steps of a fold model', () => {
  it('with whole batches to spare, (K − 1)/K of the epochs', () => {
    // ResNet-56's build: 5,000 samples and their mirrors, 3 folds, batch 256: 26 steps × 36 epochs = 936 = 39 × 24.
    assert.equal(finalEpochs(5000, 2, 3, 36, 256), 24);
    assert.equal(stepsPerEpoch(6666, 256) * 36, stepsPerEpoch(10000, 256) * 24);
  });

  it('when a fold has fewer rows than a batch (one step per epoch either way), as many epochs', () => {
    // 200 rows, 2 folds: a fold model trains on 100 rows, one batch of 100 per epoch; the deployed one on one batch of 200.
    assert.equal(finalEpochs(200, 1, 2, 40, 256), 40);
    // Between: 400 rows, 2 folds, batch 256: a fold runs 1 step per epoch (200 rows), all rows 1 (256 of 400).
    assert.equal(finalEpochs(400, 1, 2, 36, 256), 36);
  });

  it('one fold: every row trains the deployed heads for the given epochs', () => {
    assert.equal(finalEpochs(5000, 2, 1, 36, 256), 36);
  });
});
