import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cvFoldsFor, LARGE_BUILD_SAMPLES } from './cv-folds.ts';

test('open cv folds: 2 below LARGE_BUILD_SAMPLES samples, 5 from it on', () => {
  assert.equal(cvFoldsFor(2000, null), 2);
  assert.equal(cvFoldsFor(LARGE_BUILD_SAMPLES - 1, null), 2);
  assert.equal(cvFoldsFor(LARGE_BUILD_SAMPLES, null), 5);
  assert.equal(cvFoldsFor(50_000, null), 5);
});

test('configured cv folds win whatever the build size', () => {
  assert.equal(cvFoldsFor(100, 7), 7);
  assert.equal(cvFoldsFor(LARGE_BUILD_SAMPLES * 10, 2), 2);
});
