/**
 * How long a large inference request body holds the event loop: the longest gap between 1 ms ticks of a timer while
 * one body is parsed on the event loop (parseInferRequest, as the server did before session 20) or in the request
 * parser's worker (RequestParser, as it does now). Bodies: 256 rows of CIFAR-sized FP32 values as JSON (the default
 * --max-request-rows; full-precision random values), 1,000 such rows (under the default 64 MiB --body-limit but over
 * the row limit, so refused after the parse), and ten million nested brackets (refused). Median over 5 runs each.
 *   node --import tsx bench/parse-stall.ts
 */
import { LayercacheError } from '../src/errors/index.ts';
import { parseInferRequest, RequestParser, type ModelSpec } from '../src/serve/index.ts';
import { seededRng } from '../src/tensor/index.ts';

const spec: ModelSpec = { inputName: 'input', sampleDims: [3, 32, 32], maxRows: 256, outputs: ['probabilities'] };
const rng = seededRng(1);
function rowsBody(rows: number): Buffer {
  const data = Array.from({ length: rows * 3072 }, () => rng.uniform() * 4 - 2);
  return Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [rows, 3, 32, 32], datatype: 'FP32', data }] }));
}
/** rows of random FP32 values as a binary request: its body and its JSON header's length. */
function binaryBody(rows: number): { body: Buffer; headerLength: number } {
  const data = new Float32Array(rows * 3072).map(() => rng.uniform() * 4 - 2);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [rows, 3, 32, 32], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }] }));
  return { body: Buffer.concat([header, Buffer.from(data.buffer)]), headerLength: header.length };
}
const depth = 10_000_000;
const bodies: [string, Buffer, number | null][] = [
  ['256 rows, JSON', rowsBody(256), null],
  ['1,000 rows, JSON (refused: over the row limit)', rowsBody(1000), null],
  [`${depth.toLocaleString('en')} nested brackets (refused)`, Buffer.from(`{"inputs":[{"name":"input","shape":[1],"datatype":"FP32","data":${'['.repeat(depth)}1${']'.repeat(depth)}}]}`), null],
  ['256 rows, binary FP32 (parsed on the event loop either way since session 20)', binaryBody(256).body, binaryBody(256).headerLength],
];

/** Longest gap between ticks of a 1 ms interval while `work` runs, and the work's own time; both ms. */
async function stall(work: () => Promise<unknown>): Promise<{ gapMs: number; totalMs: number }> {
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  gap = 0;
  last = performance.now();
  const t0 = performance.now();
  await work().catch((e: unknown) => { if (!(e instanceof LayercacheError)) throw e; });
  const totalMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  return { gapMs: gap, totalMs };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const parser = new RequestParser(spec);
console.log('| body | size | on the event loop: longest stall / time | in the parser worker: longest stall / time |');
console.log('|---|---:|---:|---:|');
for (const [label, body, headerLength] of bodies) {
  const inline: { gapMs: number; totalMs: number }[] = [];
  const worker: { gapMs: number; totalMs: number }[] = [];
  for (let run = 0; run < 5; run++) {
    // Fresh copies made before timing: the worker takes its body over (transferred), as the server's parser does.
    const a = Buffer.from(body);
    const b = Buffer.from(body);
    inline.push(await stall(async () => parseInferRequest(a, headerLength, spec)));
    worker.push(await stall(() => parser.parse(b, headerLength)));
  }
  const f = (xs: { gapMs: number; totalMs: number }[]) => `${median(xs.map((x) => x.gapMs)).toFixed(0)} / ${median(xs.map((x) => x.totalMs)).toFixed(0)} ms`;
  console.log(`| ${label} | ${(body.length / 2 ** 20).toFixed(1)} MiB | ${f(inline)} | ${f(worker)} |`);
}
await parser.close();
// Before the depth check, the nested body went to JSON.parse, on the event loop.
const nested = bodies[2]![1].toString('utf8');
const t0 = performance.now();
try {
  JSON.parse(nested);
} catch {
  // A stack overflow is as slow to reach.
}
console.log(`\nJSON.parse alone on the nested-brackets body: ${(performance.now() - t0).toFixed(0)} ms`);
