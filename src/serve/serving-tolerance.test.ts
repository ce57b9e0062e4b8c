import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LoadedBundle } from '../bundle/index.ts';
import { servingTolerance } from './serving-tolerance.ts';

/** A bundle as far as servingTolerance reads it: its manifest's build settings. */
const builtAt = (build: Record<string, unknown>): LoadedBundle => ({ manifest: { build } }) as unknown as LoadedBundle;

describe('servingTolerance', () => {
  it('serve.tolerance when set, over the bundle\'s and build.tolerance', () => {
    assert.deepEqual(servingTolerance(0.03, builtAt({ tolerance: 0.05 }), 0.01), { tolerance: 0.03, from: 'serve.tolerance, --tolerance' });
    assert.equal(servingTolerance(0.03, null, 0.01).tolerance, 0.03);
  });

  it("else the given bundle's own tolerance, as built", () => {
    const held = servingTolerance(null, builtAt({ tolerance: 0.05 }), 0.01);
    assert.equal(held.tolerance, 0.05);
    assert.match(held.from, /the bundle's, as built; --tolerance overrides it/);
  });

  it('else build.tolerance: a bare model, or a bundle recording no usable tolerance (one made in code)', () => {
    assert.deepEqual(servingTolerance(null, null, 0.02), { tolerance: 0.02, from: 'build.tolerance, the default for a model; --tolerance sets it' });
    for (const build of [{}, { tolerance: '0.05' }, { tolerance: 0 }, { tolerance: 1 }, { tolerance: Number.NaN }]) {
      assert.deepEqual(servingTolerance(null, builtAt(build), 0.02), { tolerance: 0.02, from: 'build.tolerance; the bundle records none' }, JSON.stringify(build));
    }
  });
});
