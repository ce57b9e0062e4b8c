import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { preprocessPlanar, validatePreprocess } from './preprocess.ts';

describe('validatePreprocess', () => {
  const p = { scale: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: 'nchw' as const };
  const refused = (change: object, pattern: RegExp) => assert.throws(() => validatePreprocess({ ...p, ...change }, 3), (e: unknown) => e instanceof LayercacheError && e.code === 'CONFIG_INVALID' && pattern.test(e.message), JSON.stringify(change));

  it('takes the usual normalisations, and computes x = (pixel / scale − mean) / std (oracle by hand)', () => {
    validatePreprocess(p, 3);
    validatePreprocess({ scale: 1, mean: [0], std: [1], layout: 'nhwc' }, 1);
    const x = preprocessPlanar(Uint8Array.from([0, 255]), 1, 1, 1, 2, { scale: 255, mean: [0.5], std: [0.25], layout: 'nchw' });
    assert.deepEqual(Array.from(x.data), [-2, 2]);
  });

  it('refuses stds that are not positive, and values that send pixels beyond float32', () => {
    refused({ std: [-1] }, /preprocessing std -1 must be more than 0/);
    refused({ std: [0.2, 0, 0.2] }, /must be more than 0/);
    refused({ scale: 1e-320 }, /preprocessing scale 1e-320 maps pixel value 255 to Infinity, beyond float32's range/);
    refused({ std: [1e-45] }, /preprocessing std 1e-45 maps pixel value 0 to -?[0-9.e+]+, beyond float32's range/);
    refused({ mean: [1, 2] }, /mean 1,2 has 2 values but the images have 3 channels/);
    refused({ mean: [1e39] }, /preprocessing mean 1e\+39 maps pixel value 0 to/);
  });
});
