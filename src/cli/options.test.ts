import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { parseCount, parseImageSize, parseInputShape, parseNumber, parseNumberList, parsePositiveCount } from './options.ts';

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

  it('read numbers written in decimal only: an empty value, hex or binary is refused (Number() read them as 0, 16, 1)', () => {
    assert.deepEqual(['255', ' 0.5 ', '-1', '.25', '1e3', '+2E-1'].map((v) => parseNumber(v, '--scale')), [255, 0.5, -1, 0.25, 1000, 0.2]);
    assert.deepEqual(parseNumberList('0.485,0.456,0.406', '--mean'), [0.485, 0.456, 0.406]);
    for (const bad of ['0x10', '0b1', '0o7', '', ' ', 'Infinity', '1_000', '1,5']) usage(() => parseNumber(bad, '--scale'), /--scale '.*' is not a number; write it in decimal, e.g\. 255 or 0\.5/);
    usage(() => parseNumberList('0.485,0.456,0.406,', '--mean'), /--mean '0\.485,0\.456,0\.406,': item 4 \(''\) is not a number; give comma-separated decimals/);
    usage(() => parseNumber('-1e400', '--scale'), /--scale '-1e400' is beyond the range of numbers; give a value of smaller magnitude/);
    usage(() => parseNumberList('0.5,1e400', '--mean'), /--mean '0\.5,1e400': item 2 \('1e400'\) is beyond the range of numbers/);
    // Number() read '' as 0 for --threads and --seed (parseCount).
    assert.equal(parseCount('0', '--threads'), 0);
    assert.equal(parsePositiveCount('1e6', '--retrain-after'), 1_000_000);
    for (const bad of ['', ' ', '0x10', '2.5']) usage(() => parseCount(bad, '--seed'), /--seed '.*' is not a non-negative integer; write a whole number in decimal/);
    for (const bad of ['', '0b11']) usage(() => parsePositiveCount(bad, '--epochs'), /--epochs '.*' is not a positive integer; write a whole number in decimal/);
    // A whole number out of range is told the range, not how to write a number ('0' is one already).
    usage(() => parsePositiveCount('0', '--batch'), /--batch '0' is not a positive integer; give a whole number of at least 1$/);
    usage(() => parseCount('-1', '--threads'), /--threads '-1' is not a non-negative integer; give a whole number of at least 0$/);
  });
});
