import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeArgument, isRecord, requireArgument, type ArgumentKind } from './argument-check.ts';
import { LayercacheError } from './layercache-error.ts';

describe('describeArgument', () => {
  it('says what a value is, briefly', () => {
    assert.equal(describeArgument(undefined), 'missing');
    assert.equal(describeArgument(null), 'null');
    assert.equal(describeArgument(''), 'an empty string');
    assert.equal(describeArgument('bundle/'), "'bundle/' (a string)");
    assert.equal(describeArgument('x'.repeat(100)), `'${'x'.repeat(57)}...' (a string)`);
    assert.equal(describeArgument(123), '123 (a number)');
    assert.equal(describeArgument(false), 'false (a boolean)');
    assert.equal(describeArgument(5n), '5 (a bigint)');
    assert.equal(describeArgument(() => 1), 'a function');
    assert.equal(describeArgument([1, 2]), 'an array of 2');
    assert.equal(describeArgument(new Float64Array(2)), 'a Float64Array');
    assert.equal(describeArgument({ a: 1 }), 'an object');
    assert.equal(describeArgument(Object.create(null)), 'an object');
    assert.equal(describeArgument(new Map()), 'an object (Map)');
    assert.equal(describeArgument(Symbol('s')), 'a symbol');
  });
});

describe('requireArgument', () => {
  const tensor = { dtype: 'float32', dims: [1, 2], data: new Float32Array(2) };
  const table: Array<[ArgumentKind, unknown[], unknown[]]> = [
    ['path', ['a', 'dir/'], ['', 5, null, undefined, new String('a')]],
    ['string', ['', 'a'], [5, null, undefined]],
    ['object', [{}, new Map(), tensor], [null, undefined, [], 'a', 5, () => 1]],
    ['bytes', [new Uint8Array(1), Buffer.from('a')], [[1], new Int8Array(1), new Float32Array(1), 'a', null]],
    ['array', [[], [1]], [{}, 'ab', new Uint8Array(1), null]],
    ['function', [() => 1, Math.max], [{}, null, 'f']],
    ['tensor', [tensor, { dtype: 'int64', dims: [], data: new BigInt64Array(1) }, { dtype: 'float32', dims: [1], data: [0] }], [
      null, [], { dims: [1], data: new Float32Array(1) }, { dtype: 'float32', dims: '1', data: new Float32Array(1) },
      { dtype: 'float32', dims: ['1'], data: new Float32Array(1) }, { dtype: 'float32', dims: [1], data: '0' }, { dtype: 'float32', dims: [1] },
    ]],
  ];
  for (const [kind, accepted, refused] of table) {
    it(`'${kind}' accepts ${accepted.length} kinds of value and refuses ${refused.length}`, () => {
      for (const v of accepted) requireArgument('f(x)', 'x', v, kind, 'a good x');
      for (const v of refused) {
        assert.throws(() => requireArgument('f(x)', 'x', v, kind, 'a good x'), (e: unknown) => {
          assert.ok(e instanceof LayercacheError);
          assert.equal(e.code, 'ARGUMENT_INVALID');
          assert.equal(e.message, `f(x): x is ${describeArgument(v)}; give a good x`);
          return true;
        }, `${kind} took ${describeArgument(v)}`);
      }
    });
  }

  it('isRecord: an object that is not an array, null prototypes and class instances included', () => {
    for (const v of [{}, Object.create(null), new Map(), new Float32Array(1)]) assert.equal(isRecord(v), true);
    for (const v of [null, undefined, [], 'a', 1, () => 1]) assert.equal(isRecord(v), false);
  });

  it('a test of its own decides instead of a kind', () => {
    requireArgument('f(n)', 'n', 3, (v) => v === 3, 'three');
    assert.throws(() => requireArgument('f(n)', 'n', 4, (v) => v === 3, 'three'), { code: 'ARGUMENT_INVALID', message: 'f(n): n is 4 (a number); give three' });
  });
});
