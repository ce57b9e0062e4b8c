/**
 * Engine worker thread: holds one cascade (and, when it has exits, the backbone as read, for verification) and
 * runs batches for the main thread, so session.run never blocks the event loop.
 * Invariants: messages are handled strictly one after another, so a `load` (hot swap)
 * takes effect between batches: a batch runs wholly on one version, and the old version
 * is released only after the new one is ready. Verification of early answers runs after
 * the batch's result has been posted, on the full backbone: at once when no other batch was
 * waiting, otherwise held back until VERIFY_BATCH_ROWS rows are pending, and run as one
 * batch (a batch-1 backbone run per served batch cost the worker 5–9% of its time under
 * load); rows held back are verified when `verifyHoldMs` pass with no further message, and
 * before a swap, on the version that answered them; at close they are dropped (the server
 * has stopped learning by then).
 */
import { parentPort } from 'node:worker_threads';
import { loadBundle } from '../bundle/index.ts';
import { argmaxRows } from '../calibrate/index.ts';
import { Cascade } from '../cascade/index.ts';
import { Session } from '../engine/index.ts';
import { applyReading, readBackbone } from '../inspect/index.ts';
import { tensor, unusableScoresRow } from '../tensor/index.ts';
import { revisedBundle } from './bundle-revision.ts';
import { reportOf } from './remote-error.ts';
import { loadUnchangedModel, sourceChanged } from './source-changed.ts';
import type { EngineReply, EngineRequest } from './messages.ts';
import { admits, verifies } from './verify-rule.ts';

interface Loaded {
  readonly cascade: Cascade;
  /** The full backbone, for verification; null when the cascade has no exits. */
  readonly backbone: Session | null;
  readonly version: number;
  readonly exits: number;
  /** Longest held-back verification rows wait for a further message. */
  readonly verifyHoldMs: number;
}

/** Verification rows held back under load before they run as one backbone batch. */
const VERIFY_BATCH_ROWS = 16;

const port = parentPort!;
let current: Loaded | null = null;
/** Early answers waiting for verification (all answered by `current`): inputs, answering exits, answered classes. */
let pending: { inputs: Float32Array[]; exits: number[]; classes: number[]; scores: number[]; admit: number[]; sampleDims: readonly number[] } | null = null;
let holdTimer: NodeJS.Timeout | null = null;
let chain: Promise<void> = Promise.resolve();

function post(reply: EngineReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(reply, transfer);
}

async function load(msg: Extract<EngineRequest, { kind: 'load' }>): Promise<void> {
  let cascade: Cascade;
  /** The backbone as read for this source, for verification; none without exits (nothing exits early). */
  let verifier: Uint8Array | null = null;
  if (msg.source.kind === 'bundle') {
    const { dir, thresholds } = msg.source;
    const loaded = await loadBundle(dir);
    if (loaded.manifestSha256 !== msg.source.manifestSha256) throw sourceChanged(`bundle ${dir}`, 'its manifest', msg.source.manifestSha256, loaded.manifestSha256);
    if (thresholds && thresholds.length !== loaded.manifest.exits.length) throw new Error(`${thresholds.length} thresholds for the ${loaded.manifest.exits.length} exits of ${dir}`);
    const bundle = thresholds ? revisedBundle(loaded, msg.version, thresholds, []) : loaded;
    cascade = await Cascade.fromBundle(bundle, msg.engine);
    if (cascade.exitCount > 0) verifier = readBackbone(bundle).bytes;
  } else {
    // Its external data files too, if any (a bundle's backbone is self-contained).
    const { model } = await loadUnchangedModel(msg.source.file, msg.source.sha256);
    cascade = await Cascade.create({ segments: [applyReading(model, msg.source.reading)], heads: [], exits: [], classes: msg.source.classes, score: 'max' }, msg.engine);
  }
  let backbone: Session | null = null;
  try {
    if (verifier) backbone = await Session.create(verifier, 'backbone (verification)', msg.engine);
  } catch (err) {
    await cascade.release();
    throw err;
  }
  const old = current;
  current = { cascade, backbone, version: msg.version, exits: cascade.exitCount, verifyHoldMs: msg.verifyHoldMs };
  if (old) await Promise.all([old.cascade.release(), old.backbone?.release()]);
  post({ kind: 'loaded', id: msg.id, version: msg.version, exits: cascade.exitCount });
}

async function infer(msg: Extract<EngineRequest, { kind: 'infer' }>): Promise<void> {
  const live = current;
  if (!live) throw new Error('no model loaded');
  const input = tensor('float32', [msg.rows, ...msg.sampleDims], msg.input);
  // The protocol layer refused non-finite values per request, before batching.
  const rows = await live.cascade.run(input, { finiteChecked: true });
  const K = live.cascade.classes;
  const probs = new Float32Array(msg.rows * K);
  const exits = new Int32Array(msg.rows);
  const confidence = new Float32Array(msg.rows);
  rows.forEach((r, i) => {
    probs.set(r.probs, i * K);
    exits[i] = r.exit ?? -1;
    confidence[i] = r.confidence;
  });
  post({ kind: 'result', id: msg.id, version: live.version, classes: K, probs, exits, confidence}, [probs.buffer, exits.buffer, confidence.buffer]);

  // Verification sampling: early answers whose draw is under their exit's verify share, checked after the response.
  const size = msg.input.length / msg.rows;
  for (let i = 0; i < msg.rows; i++) {
    if (!verifies(msg.rule, msg.draws[i]!, rows[i]!.exit)) continue;
    pending ??= { inputs: [], exits: [], classes: [], scores: [], admit: [], sampleDims: msg.sampleDims };
    pending.inputs.push(msg.input.slice(i * size, (i + 1) * size));
    pending.exits.push(rows[i]!.exit!);
    pending.classes.push(rows[i]!.classIndex);
    pending.scores.push(live.cascade.scoreOf(rows[i]!));
    pending.admit.push(admits(msg.rule, msg.draws[i]!) ? 1 : 0);
  }
  if (pending && (!msg.more || pending.exits.length >= VERIFY_BATCH_ROWS)) await verifyPending();
  // Held back for batches that may not come (their requests timed out, or another worker took them).
  else if (pending) {
    holdTimer = setTimeout(() => {
      holdTimer = null;
      // Busy meanwhile, as with a batch: the pool sends the next batch to another worker if one is free.
      post({ kind: 'verifying' });
      chain = chain.then(verifyPending).catch((err: unknown) => {
        // verifyPending reports its own failures; this is a last resort that keeps the chain alive.
        post({ kind: 'verify-failed', rows: 0, ...reportOf(err) });
      }).finally(() => post({ kind: 'verified-held' }));
    }, live.verifyHoldMs);
  }
}

/**
 * Runs the pending early answers through the full backbone as one batch and posts the
 * verdicts. Never throws: a failure is posted as 'verify-failed' (the answers were sent already).
 */
async function verifyPending(): Promise<void> {
  const live = current;
  const p = pending;
  pending = null;
  if (!live?.backbone || !p) return;
  const n = p.exits.length;
  const size = p.inputs[0]!.length;
  /** rows stacked: [rows.length, size]. */
  const stack = (rows: readonly Float32Array[]): Float32Array<ArrayBuffer> => {
    const out = new Float32Array(rows.length * size);
    rows.forEach((x, k) => out.set(x, k * size));
    return out;
  };
  const input = stack(p.inputs);
  let out: Awaited<ReturnType<Session['run']>>;
  try {
    out = await live.backbone.run({ [live.cascade.inputName]: tensor('float32', [n, ...p.sampleDims], input) });
  } catch (err) {
    post({ kind: 'verify-failed', rows: n, ...reportOf(err) });
    return;
  }
  const logits = Object.values(out)[0]!.data as Float32Array;
  const K = live.cascade.classes;
  // A row the backbone cannot answer (NaN scores) verifies nothing, and would fail every retrain from the buffer.
  const usable = Array.from({ length: n }, (_, k) => k).filter((k) => unusableScoresRow(logits.subarray(k * K, (k + 1) * K), K) < 0);
  if (usable.length === 0) return;
  const backboneClasses = argmaxRows(logits, K);
  const agree = Uint8Array.from(usable, (k) => (backboneClasses[k] === p.classes[k] ? 1 : 0));
  const scores = Float64Array.from(usable, (k) => p.scores[k]!);
  const kept = usable.length < n ? stack(usable.map((k) => p.inputs[k]!)) : input;
  const admit = Uint8Array.from(usable, (k) => p.admit[k]!);
  post({ kind: 'verified', version: live.version, exits: Int32Array.from(usable, (k) => p.exits[k]!), agree, scores, admit, input: kept, rows: usable.length }, [kept.buffer, scores.buffer]);
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
      if (current) await Promise.all([current.cascade.release(), current.backbone?.release()]);
      current = null;
      post({ kind: 'closed', id: msg.id });
    }
  } catch (err) {
    post({ kind: 'error', id: msg.id, ...reportOf(err) });
  }
  // After the verification a batch may run once its result is out: the pool sends the next batch to a worker
  // that is done, and counts the wait for one as queue time, not as the next batch's engine time.
  if (msg.kind === 'infer') post({ kind: 'idle', id: msg.id });
}

port.on('message', (msg: EngineRequest) => {
  chain = chain.then(() => handle(msg));
});
