import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bfloat16ToFloat, floatValues, halfToFloat, roundToBfloat16, roundToHalf } from './float-bits.ts';
import { tensor } from './tensor.ts';

describe('half-width floats (oracle: bit patterns worked out by hand)', () => {
  it('float16 and bfloat16 bits decode exactly', () => {
    // FP16: 1, −2, 65504 (largest), 2^−24 (smallest subnormal), 0.333251953125 (0x3555).
    assert.deepEqual([0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555].map(halfToFloat), [1, -2, 65504, 2 ** -24, 0.333251953125]);
    assert.equal(halfToFloat(0x7c00), Number.POSITIVE_INFINITY);
    assert.ok(Number.isNaN(halfToFloat(0x7e00)));
    // BF16 is float32's top half: 1, −3, 0.5.
    assert.deepEqual([0x3f80, 0xc040, 0x3f00].map(bfloat16ToFloat), [1, -3, 0.5]);
  });

  it('floatValues reads float16, float32 and float64 tensors as float32, and nothing else', () => {
    assert.deepEqual(Array.from(floatValues(tensor('float16', [2], new Uint16Array([0x3c00, 0xc000])))!), [1, -2]);
    assert.deepEqual(Array.from(floatValues(tensor('float64', [1], new Float64Array([0.5])))!), [0.5]);
    assert.equal(floatValues(tensor('int64', [1], new BigInt64Array([1n]))), null);
  });
});

describe('rounding to a half-width float (oracle: every finite bit pattern, decoded exactly)', () => {
  for (const [name, decode, round, top] of [['float16', halfToFloat, roundToHalf, 0x7bff], ['bfloat16', bfloat16ToFloat, roundToBfloat16, 0x7f7f]] as const) {
    it(`${name}: each value rounds to itself, and each midpoint to its even neighbour, nearer points to the nearer`, () => {
      for (let h = 0; h < top; h++) {
        const [a, b] = [decode(h), decode(h + 1)];
        for (const sign of [1, -1]) {
          assert.equal(round(sign * a), sign * a, `${name} ${h.toString(16)}`);
          const mid = (a + b) / 2;
          assert.equal(round(sign * mid), sign * (h % 2 === 0 ? a : b), `${name} midpoint after ${h.toString(16)}`);
          assert.equal(round(sign * (mid - (b - a) / 8)), sign * a);
          assert.equal(round(sign * (mid + (b - a) / 8)), sign * b);
        }
      }
    });
  }
});

