/**
 * Speed of the finite-value check every input passes (a cascade's run, a server request, raw and npy data, a build's
 * first read): `firstNonFinite` against the `findIndex(!isFinite)` it replaced, on all-finite float32 arrays the
 * size of one CIFAR-10 sample, a batch of 64 demo digits and a batch of 64 CIFAR-10 samples. Prints the median
 * microseconds per call of 5 rounds for each.
 *   node --import tsx bench/finite-check.ts
 */
import { firstNonFinite, percentile, randomNormal, seededRng } from '../src/tensor/index.ts';

const oldCheck = (d: Float32Array): number => d.findIndex((x) => !Number.isFinite(x));
/** Median µs per call of `f` on `d`, over 5 rounds of `calls` calls. */
function time(f: (d: Float32Array) => number, d: Float32Array, calls: number): number {
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    let sink = 0;
    const t = performance.now();
    for (let i = 0; i < calls; i++) sink += f(d);
    rounds.push(((performance.now() - t) * 1000) / calls);
    if (sink !== -calls) throw new Error('a finite array was refused');
  }
  return percentile(rounds, 0.5);
}

console.log('values   | findIndex µs | firstNonFinite µs | ×');
for (const [what, n] of [['one CIFAR-10 sample', 3 * 32 * 32], ['64 demo digits', 64 * 784], ['64 CIFAR-10 samples', 64 * 3 * 32 * 32]] as const) {
  const d = randomNormal(seededRng(1), n, 1);
  const calls = Math.max(50, Math.round(5e7 / n / 10));
  for (let i = 0; i < 3; i++) { time(oldCheck, d, 20); time(firstNonFinite, d, 20); } // warm both
  const before = time(oldCheck, d, calls);
  const after = time(firstNonFinite, d, calls);
  console.log(`${String(n).padStart(8)} | ${before.toFixed(1).padStart(12)} | ${after.toFixed(1).padStart(17)} | ${(before / after).toFixed(1)} (${what})`);
}
