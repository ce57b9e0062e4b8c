import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { parseAugmentList } from './options.ts';

describe('parseAugmentList', () => {
  it('expands NAME:COUNT into COUNT copies, in order', () => {
    assert.deepEqual(parseAugmentList('flip,random:3,crop', '--augment'), ['flip', 'random', 'random', 'random', 'crop']);
  });

  it('rejects unknown names and counts that are not positive integers, naming the entry', () => {
    for (const [value, pattern] of [
      ['rotate', /'rotate' is not one of flip, crop, random/], ['random:0', /'random:0'/], ['random:2.5', /'random:2.5'/], ['flip:1:2', /'flip:1:2'/],
      ['flip,random:2,flip', /more than one flip/], ['flip:2', /more than one flip/], ['random:33', /asks for 33 copies; at most 32/], ['random:1e10', /'random:1e10'/], ['random:0x10', /'random:0x10'/], ['random:99999999999', /asks for 99999999999 copies/],
    ] as const) {
      assert.throws(() => parseAugmentList(value, '--augment'), (e: unknown) => e instanceof LayercacheError && e.code === 'USAGE' && pattern.test(e.message));
    }
  });
});
