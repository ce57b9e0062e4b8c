/**
 * Engine worker thread: holds one cascade and runs batches for the main thread, so session.run
 * never blocks the event loop.
 * Invariants: messages are handled strictly one after another, so a `load` (hot swap)
 * takes effect between batches: a batch runs wholly on one version, and the old version
 * is released only after the new one is ready. Rows the main thread picked for verification
 * run the stage-by-stage cascade, which keeps the cut tensor of those answered early; after
 * the batch's result has been posted, only the rest of the backbone runs on those cuts (never
 * the prefix again): at once when no other batch was waiting, otherwise held back until
 * VERIFY_BATCH_ROWS rows are pending, and run together, exit by exit (a batch-1 backbone run
 * per served batch cost the worker 5–9% of its time under load); rows held back are verified
 * when `verifyHoldMs` pass with no further message, and before a swap, on the version that
 * answered them; at close they are dropped (the server has stopped learning by then).
 */
import { parentPort } from 'node:worker_threads';
import { promises as fs } from 'node:fs';
import { loadBundle } from '../bundle/index.ts';
import { argmaxRows } from '../calibrate/index.ts';
import { Cascade, gatherRows, type CascadeRow } from '../cascade/index.ts';
import { applyLogitsPlan } from '../inspect/index.ts';
import { asLayercacheError } from '../errors/index.ts';
import { parseModel } from '../onnx/index.ts';
import { concatRows, tensor, type Tensor } from '../tensor/index.ts';
import type { EngineReply, EngineRequest } from './messages.ts';

interface Loaded {
  readonly cascade: Cascade;
  readonly version: number;
  readonly exits: number;
  /** Longest held-back verification rows wait for a further message. */
  readonly verifyHoldMs: number;
}

/** Verification rows held back under load before the rest of the backbone runs on them together. */
const VERIFY_BATCH_ROWS = 16;

const port = parentPort!;
let current: Loaded | null = null;
/** Early answers waiting for verification (all answered by `current`): inputs, answering exits, cut tensors there [1, ...], answered classes. */
let pending: { inputs: Float32Array[]; exits: number[]; cuts: Tensor[]; classes: number[] } | null = null;
let holdTimer: NodeJS.Timeout | null = null;
let chain: Promise<void> = Promise.resolve();

function post(reply: EngineReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(reply, transfer);
}

async function load(msg: Extract<EngineRequest, { kind: 'load' }>): Promise<void> {
  let cascade: Cascade;
  if (msg.source.kind === 'bundle') {
    cascade = await Cascade.fromBundle(await loadBundle(msg.source.dir), msg.engine);
  } else {
    const backbone = applyLogitsPlan(parseModel(new Uint8Array(await fs.readFile(msg.source.file)), msg.source.file), msg.source.logits);
    cascade = await Cascade.create({ segments: [backbone], heads: [], exits: [], classes: msg.source.classes, score: 'max' }, msg.engine);
  }
  const old = current;
  current = { cascade, version: msg.version, exits: cascade.exitCount, verifyHoldMs: msg.verifyHoldMs };
  if (old) await old.cascade.release();
  post({ kind: 'loaded', id: msg.id, version: msg.version, exits: cascade.exitCount });
}

/**
 * Runs a batch: rows picked for verification (when the cascade has exits) on the stage-by-stage path, which
 * keeps the cut tensors of early answers, the others on the cascade's single graph. Rows come back in order.
 * input: [rows, ...sample]; verify: [rows].
 */
async function runBatch(cascade: Cascade, input: Tensor, verify: Uint8Array): Promise<{ rows: CascadeRow[]; cuts: (Tensor | null)[] }> {
  const n = input.dims[0]!;
  const picked = cascade.exitCount === 0 ? [] : Array.from({ length: n }, (_, i) => i).filter((i) => verify[i]);
  if (picked.length === 0) return { rows: await cascade.run(input), cuts: new Array<Tensor | null>(n).fill(null) };
  if (picked.length === n) return cascade.runKeepingCuts(input);
  const others = Array.from({ length: n }, (_, i) => i).filter((i) => !verify[i]);
  const kept = await cascade.runKeepingCuts(gatherRows(input, picked));
  const plain = await cascade.run(gatherRows(input, others));
  const rows: CascadeRow[] = new Array(n);
  const cuts: (Tensor | null)[] = new Array<Tensor | null>(n).fill(null);
  picked.forEach((i, k) => {
    rows[i] = kept.rows[k]!;
    cuts[i] = kept.cuts[k]!;
  });
  others.forEach((i, k) => (rows[i] = plain[k]!));
  return { rows, cuts };
}

async function infer(msg: Extract<EngineRequest, { kind: 'infer' }>): Promise<void> {
  const live = current;
  if (!live) throw new Error('no model loaded');
  const input = tensor('float32', [msg.rows, ...msg.sampleDims], msg.input);
  const { rows, cuts } = await runBatch(live.cascade, input, msg.verify);
  const K = live.cascade.classes;
  const probs = new Float32Array(msg.rows * K);
  const exits = new Int32Array(msg.rows);
  const confidence = new Float32Array(msg.rows);
  rows.forEach((r, i) => {
    probs.set(r.probs, i * K);
    exits[i] = r.exit ?? -1;
    confidence[i] = r.confidence;
  });
  post({ kind: 'result', id: msg.id, version: live.version, classes: K, probs, exits, confidence }, [probs.buffer, exits.buffer, confidence.buffer]);

  // Verification sampling: early answers picked by the main thread, checked after the response.
  const size = msg.input.length / msg.rows;
  for (let i = 0; i < msg.rows; i++) {
    const cut = cuts[i];
    if (!cut) continue;
    pending ??= { inputs: [], exits: [], cuts: [], classes: [] };
    pending.inputs.push(msg.input.slice(i * size, (i + 1) * size));
    pending.exits.push(rows[i]!.exit!);
    pending.cuts.push(cut);
    pending.classes.push(rows[i]!.classIndex);
  }
  if (pending && (!msg.more || pending.exits.length >= VERIFY_BATCH_ROWS)) await verifyPending();
  // Held back for batches that may not come (their requests timed out, or another worker took them).
  else if (pending) {
    holdTimer = setTimeout(() => {
      holdTimer = null;
      chain = chain.then(verifyPending).catch((err: unknown) => {
        // verifyPending reports its own failures; this is a last resort that keeps the chain alive.
        const e = asLayercacheError(err);
        post({ kind: 'verify-failed', rows: 0, code: e.code, message: e.message });
      });
    }, live.verifyHoldMs);
  }
}

/**
 * Runs the rest of the backbone on the pending early answers' cuts, exit by exit, and posts the
 * verdicts (rows in pending order). Never throws: a failure is posted as 'verify-failed' (the
 * answers were sent already).
 */
async function verifyPending(): Promise<void> {
  const live = current;
  const p = pending;
  pending = null;
  if (!live || !p) return;
  const n = p.exits.length;
  const agree = new Uint8Array(n);
  try {
    for (const j of new Set(p.exits)) {
      const at = p.exits.flatMap((e, k) => (e === j ? [k] : []));
      const logits = await live.cascade.rest(j, concatRows(at.map((k) => p.cuts[k]!)));
      const classes = argmaxRows(logits, live.cascade.classes);
      at.forEach((k, r) => (agree[k] = classes[r] === p.classes[k] ? 1 : 0));
    }
  } catch (err) {
    const e = asLayercacheError(err);
    post({ kind: 'verify-failed', rows: n, code: e.code, message: e.message });
    return;
  }
  const size = p.inputs[0]!.length;
  const input = new Float32Array(n * size);
  p.inputs.forEach((x, k) => input.set(x, k * size));
  post({ kind: 'verified', version: live.version, exits: Int32Array.from(p.exits), agree, input, rows: n }, [input.buffer]);
}

async function handle(msg: EngineRequest): Promise<void> {
  // A message is being handled: the held rows' timer restarts, if they are still held, after it.
  if (holdTimer) clearTimeout(holdTimer);
  holdTimer = null;
  try {
    if (msg.kind === 'load') {
      await verifyPending();
      await load(msg);
    } else if (msg.kind === 'infer') await infer(msg);
    else {
      pending = null;
      if (current) await current.cascade.release();
      current = null;
      post({ kind: 'closed', id: msg.id });
    }
  } catch (err) {
    const e = asLayercacheError(err);
    post({ kind: 'error', id: msg.id, code: e.code, message: e.message });
  }
}

port.on('message', (msg: EngineRequest) => {
  chain = chain.then(() => handle(msg));
});
