/**
 * A server in its own process, for the restart test: serves MODEL with --state STATE,
 * streams `count` requests through it until online retraining has produced a version,
 * prints `VERSION n`, then idles until it is killed.
 * Usage: node --import tsx test/support/serve-child.ts MODEL STATE COUNT
 */
import { loadConfig } from '../../src/config/index.ts';
import { startServer } from '../../src/serve/index.ts';
import { randomNormal, seededRng } from '../../src/tensor/index.ts';

const [model, state, count] = process.argv.slice(2) as [string, string, string];
const n = Number(count);
const config = loadConfig({
  engine: { intraOpThreads: 1 },
  build: { folds: 2, epochs: 3, tolerance: 0.2, measureReps: 3 },
  serve: { name: 'tiny', log: 'silent', stateDir: state, online: { retrainAfter: n, retrainEvery: 1_000_000 } },
}, {});
const server = await startServer(model, config);
const x = randomNormal(seededRng(11), n * 192);
for (let i = 0; i < n; i++) {
  const res = await server.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: { inputs: [{ name: 'image', shape: [1, 3, 8, 8], datatype: 'FP32', data: Array.from(x.subarray(i * 192, (i + 1) * 192)) }] } });
  if (res.statusCode !== 200) throw new Error(res.body);
}
await server.online.idle();
process.stdout.write(`VERSION ${server.online.status().version}\n`);
setInterval(() => {}, 1 << 30);
