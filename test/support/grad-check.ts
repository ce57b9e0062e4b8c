/**
 * Gradient check for loss-and-gradient models: central finite differences of the `loss`
 * output against the model's `grad_<param>` outputs, in float64, on a spread of entries
 * of every parameter.
 */
import assert from 'node:assert/strict';
import type { Session } from '../../src/engine/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';

/** Checks every parameter named in `params` (feeds must hold float64 tensors); returns the loss and the entries checked. */
export async function checkGradients(session: Session, feeds: Record<string, Tensor>, params: readonly { name: string }[], samplesPerParam: number): Promise<{ loss: number; checked: number }> {
  const out = await session.run(feeds);
  const lossAt = async (): Promise<number> => Number((await session.run(feeds, ['loss'])).loss!.data[0]);
  const h = 1e-6;
  let checked = 0;
  for (const s of params) {
    const p = feeds[s.name]!.data as Float64Array;
    const grad = out[`grad_${s.name}`]!.data as Float64Array;
    assert.equal(grad.length, p.length);
    for (let i = 0; i < p.length; i += Math.max(1, Math.floor(p.length / samplesPerParam))) {
      const orig = p[i]!;
      p[i] = orig + h;
      const up = await lossAt();
      p[i] = orig - h;
      const down = await lossAt();
      p[i] = orig;
      const numeric = (up - down) / (2 * h);
      const err = Math.abs(numeric - grad[i]!) / Math.max(1e-8, Math.abs(numeric) + Math.abs(grad[i]!));
      assert.ok(err < 1e-5 || Math.abs(numeric - grad[i]!) < 1e-9, `${s.name}[${i}]: analytic ${grad[i]} vs numeric ${numeric}`);
      checked++;
    }
  }
  return { loss: Number(out.loss!.data[0]), checked };
}
