/**
 * Latency profile: what the builder measured of one backbone on one machine (the cost to
 * reach every candidate exit, each head shape's cost, the runtime checks of cascades), kept
 * in a file so later builds and the server's retrains reuse it instead of timing again, as
 * TensorRT reuses its timing cache. Timings of identical sessions differ by a few percent
 * between processes, enough to flip a choice between near-equal bundles, so builds of the
 * same data sharing a profile choose the same bundle; and a retrain inside a busy server
 * given a profile measured on a quiet machine does not time under its own traffic (without
 * one, its first retrain measures under traffic and later ones reuse that).
 * Invariants: a file holds one profile; it is reused only when its key matches exactly
 * (backbone sha256, batch, engine options, onnxruntime version, CPU model and count,
 * measurement method); it is written atomically (last writer wins); a missing, unreadable or
 * mismatched profile is never an error: the builder measures again and the caller replaces
 * the file; a file that is not a latency profile at all is never replaced (OUTPUT_EXISTS).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { z } from 'zod';
import { runtimeVersion, type EngineOptions } from '../engine/index.ts';
import { LayercacheError, requireArgument } from '../errors/index.ts';
import { checkOutputFile, notRegularFile, sha256, writeFileAtomic } from '../files/index.ts';
import { requireProgress, type Progress } from '../progress/index.ts';

export const LATENCY_PROFILE_FORMAT = 'layercache.latency-profile/1';

/**
 * How the costs were measured (measure.ts and cost-fit.ts); part of the key, so a profile
 * measured another way is measured again rather than mixed with new timings.
 */
const MEASURE_METHOD = 'prefix-sessions+shape-fit/1';

const Ms = z.number().finite().nonnegative();

const KeySchema = z.object({
  backboneSha256: z.string().regex(/^[0-9a-f]{64}$/),
  batch: z.number().int().min(1),
  intraOpThreads: z.number().int().min(0),
  graphOptimization: z.string(),
  spinning: z.boolean(),
  runtime: z.string(),
  cpu: z.string(),
  cpus: z.number().int().min(0),
  method: z.string(),
}).strict();

const CheckSchema = z.object({ backboneMs: Ms, cascadeMs: Ms, ratio: z.number().finite().positive() }).strict();

const ProfileSchema = z.object({
  format: z.literal(LATENCY_PROFILE_FORMAT),
  key: KeySchema,
  measuredAt: z.string(),
  /** Backbone, ms per batch. */
  fullMs: z.number().finite().positive(),
  /** One session call that does nothing, ms. */
  callOverheadMs: Ms,
  /** Per candidate exit tensor: ms per batch to reach it. */
  toExitMs: z.record(z.string(), Ms),
  /** Per head graph shape (shapeId): ms per batch. */
  headMs: z.record(z.string(), Ms),
  /** Per cascade (cascadeId): the runtime check's verdict. */
  checks: z.record(z.string(), CheckSchema),
}).strict();

export type LatencyProfileKey = z.infer<typeof KeySchema>;
export type LatencyProfile = z.infer<typeof ProfileSchema>;
export type CascadeCheck = z.infer<typeof CheckSchema>;

/** The key of timings of `backboneSha256` at `batch` (rows per timed run) under `engine`, on this machine. */
export function latencyProfileKey(backboneSha256: string, batch: number, engine: EngineOptions): LatencyProfileKey {
  return {
    backboneSha256, batch, intraOpThreads: engine.intraOpThreads, graphOptimization: engine.graphOptimization, spinning: engine.spinning ?? false,
    runtime: runtimeVersion(), cpu: os.cpus()[0]?.model.trim() ?? 'unknown', cpus: os.availableParallelism(), method: MEASURE_METHOD,
  };
}

/** The last `max` verdicts in insertion order (the newest: a long-running server adds a few with every retrain). */
export function newestChecks(checks: Readonly<Record<string, CascadeCheck>>, max: number): Record<string, CascadeCheck> {
  return Object.fromEntries(Object.entries(checks).slice(-max));
}

/** The first field in which `a` and `b` differ, as "name: a ≠ b", or null when they match. */
export function keyMismatch(a: LatencyProfileKey, b: LatencyProfileKey): string | null {
  for (const k of Object.keys(a) as (keyof LatencyProfileKey)[]) {
    if (a[k] !== b[k]) return `${k}: ${String(a[k])} ≠ ${String(b[k])}`;
  }
  return null;
}

/** Short stable id of a string (a graph shape, a cascade). */
export function shortId(text: string | Uint8Array): string {
  return sha256(typeof text === 'string' ? new TextEncoder().encode(text) : text).slice(0, 24);
}

/** What reading a profile file found. */
export interface ProfileReading {
  readonly profile: LatencyProfile | null;
  /** Why the file holds no usable profile, to report (null when absent or usable). */
  readonly problem: string | null;
  /**
   * Whether writing a profile there loses nothing: the file is absent, unreadable (the write then fails and is
   * reported), or a latency profile (of another key, or invalid). Any other file, the model or the data given by
   * mistake, is never overwritten.
   */
  readonly replaceable: boolean;
}

const PROFILE_FORMAT_PREFIX = LATENCY_PROFILE_FORMAT.slice(0, LATENCY_PROFILE_FORMAT.lastIndexOf('/') + 1);

/**
 * Reads a profile file. A missing file gives no profile and no problem; an unreadable or invalid one gives a problem
 * to report (the builder then measures again), and whether it may be replaced.
 */
export async function readLatencyProfile(file: string): Promise<ProfileReading> {
  requireArgument('readLatencyProfile(file)', 'file', file, 'path', "the profile's path, e.g. 'latency.json'");
  // A device or a FIFO is neither read (/dev/zero never ends; a FIFO waits for a writer) nor replaced; a directory
  // cannot be replaced by a file anyway: its save fails, with a warning.
  const kind = await notRegularFile(file);
  if (kind === 'a directory') return { profile: null, problem: `cannot read latency profile ${file}: it is a directory`, replaceable: true };
  if (kind !== null) return { profile: null, problem: `${file} is ${kind}, not a file`, replaceable: false };
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { profile: null, problem: null, replaceable: true };
    return { profile: null, problem: `cannot read latency profile ${file}: ${(err as Error).message}`, replaceable: true };
  }
  // An empty file (made by mktemp or touch) holds nothing to lose; a profile cut short is still one of ours.
  if (text.trim() === '') return { profile: null, problem: `latency profile ${file} is empty; it will be measured again and replaced`, replaceable: true };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's message quotes the file, which may be binary (a model given by mistake): not repeated here.
    const ours = text.slice(0, 200).replace(/\s+/g, '').startsWith(`{"format":"${PROFILE_FORMAT_PREFIX}`);
    return ours
      ? { profile: null, problem: `latency profile ${file} is cut short (not valid JSON); it will be measured again and replaced`, replaceable: true }
      : { profile: null, problem: `${file} is not a latency profile (not JSON)`, replaceable: false };
  }
  const format = (json as { format?: unknown } | null)?.format;
  if (typeof format !== 'string' || !format.startsWith(PROFILE_FORMAT_PREFIX)) {
    return { profile: null, problem: `${file} is not a latency profile (its "format" is ${JSON.stringify(format) ?? 'missing'}, not "${LATENCY_PROFILE_FORMAT}")`, replaceable: false };
  }
  const parsed = ProfileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { profile: null, problem: `latency profile ${file} is not a valid ${LATENCY_PROFILE_FORMAT} file (${issue.path.join('.') || 'top level'}: ${issue.message}); it will be measured again and replaced`, replaceable: true };
  }
  return { profile: parsed.data, problem: null, replaceable: true };
}

/** Refuses a profile path that holds another kind of file, which saving a profile would destroy. */
export function refuseForeignProfile(file: string, reading: ProfileReading): void {
  if (!reading.replaceable) {
    throw new LayercacheError('OUTPUT_EXISTS', `--latency-profile ${reading.problem ?? file}, and saving the profile would replace it; give a path of its own, e.g. --latency-profile latency-profile.json`);
  }
}

/**
 * Checks a --latency-profile path before long work and reads it: a path that is no file (a directory, a stream such
 * as /dev/stdin, checked before it is read) or that holds another kind of file is refused; so is one this user may
 * not write when it holds no profile, since its build could then only warn that it saved none. A profile that can
 * be read is used even where it cannot be saved (a shared, read-only one).
 */
export async function checkLatencyProfileFile(file: string): Promise<ProfileReading> {
  await checkOutputFile(file, true, '--latency-profile', undefined, false);
  const reading = await readLatencyProfile(file);
  refuseForeignProfile(file, reading);
  if (reading.profile === null) await checkOutputFile(file, true, '--latency-profile');
  return reading;
}

/** Writes a profile atomically. */
export async function writeLatencyProfile(file: string, profile: LatencyProfile): Promise<void> {
  const call = 'writeLatencyProfile(file, profile)';
  requireArgument(call, 'file', file, 'path', "the profile's path, e.g. 'latency.json'");
  const checked = ProfileSchema.safeParse(profile);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new LayercacheError('ARGUMENT_INVALID', `${call}: profile${issue.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('')} ${issue.message}; give a build's profile: (await buildCascade(…)).latencyProfile`, { cause: checked.error });
  }
  await writeFileAtomic(file, `${JSON.stringify(checked.data, null, 2)}\n`);
}

/**
 * Runs `build` with the profile in `file` (null: none, nothing read or written), then writes
 * the build's profile back. A profile that cannot be read or written is a warning (by default
 * a progress note), not a failure: the build measures instead, and its result stands.
 */
export async function withLatencyProfileFile<R extends { readonly latencyProfile: LatencyProfile }>(
  file: string | null, progress: Progress, build: (profile: LatencyProfile | null) => Promise<R>,
  warn: (text: string) => void = (text) => progress.note(text),
): Promise<R> {
  const call = 'withLatencyProfileFile(file, progress, build, warn)';
  requireArgument(call, 'file', file, (v) => v === null || (typeof v === 'string' && v !== ''), "the profile's path, e.g. 'latency.json', or null for none");
  requireProgress(call, progress);
  requireArgument(call, 'build', build, 'function', 'a function from the profile (or null) to a build: (profile) => buildCascade({ …, latencyProfile: profile }, …)');
  requireArgument(call, 'warn', warn, 'function', 'a function taking a warning line, or nothing for progress notes');
  if (file === null) return build(null);
  const reading = await readLatencyProfile(file);
  refuseForeignProfile(file, reading);
  const { profile, problem } = reading;
  if (problem) warn(problem);
  else if (profile) progress.note(`found the latency profile ${file} (measured ${profile.measuredAt})`);
  const result = await build(profile);
  try {
    await writeLatencyProfile(file, result.latencyProfile);
  } catch (err) {
    warn(`could not save the latency profile: ${(err as Error).message}`);
  }
  return result;
}
