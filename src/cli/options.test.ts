import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { parseImageSize, parseInputShape } from './options.ts';

const usage = (fn: () => unknown, pattern: RegExp) => assert.throws(fn, (e: unknown) => e instanceof LayercacheError && e.code === 'USAGE' && pattern.test(e.message));

describe('CLI option parsers', () => {
  it('read shapes and image sizes', () => {
    assert.deepEqual(parseInputShape('input=1x3x224x224', { other: [1] }), { other: [1], input: [1, 3, 224, 224] });
    assert.deepEqual(parseImageSize(' 32x48 ', '--image-size'), [32, 48]);
  });

  it('refuse sizes no tensor can hold, naming the flag, rather than failing inside (Invalid typed array length)', () => {
    usage(() => parseInputShape('input=1x3x100000x100000'), /--input-shape 'input=1x3x100000x100000' is 3\.00e\+10 values, more than one tensor can hold here/);
    usage(() => parseImageSize('100000x100000', '--image-size'), /--image-size '100000x100000' has a side over 16384 pixels/);
    usage(() => parseInputShape('input=1x0'), /has a zero dimension/);
    usage(() => parseImageSize('32', '--image-size'), /is not HxW/);
  });
});
