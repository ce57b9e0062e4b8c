/**
 * Messages between the server's main thread and its worker threads. Plain data only
 * (structured-clone safe); typed arrays are transferred, not copied, where marked.
 */
import type { BuildConfig, PreprocessConfig } from '../config/index.ts';
import type { EngineOptions } from '../engine/index.ts';
import type { ClassifierReading } from '../inspect/index.ts';
import type { InferRequest, ModelSpec } from './protocol.ts';
import type { ErrorReport } from './remote-error.ts';
import type { VerifyRule } from './verify-rule.ts';

/**
 * What an engine worker runs: a bundle, or a bare model (the full backbone, no exits). Each names the content the
 * main thread loaded (manifestSha256, sha256 of the model's self-contained bytes): a worker that finds other
 * content at the path (a bundle rebuilt in place, a model re-exported over its file) refuses to load it, so a
 * replacement worker never serves another model under the version the main thread describes.
 */
export type EngineSource =
  /**
   * thresholds: in place of the manifest's, one per exit (null disables it): a guard action the state directory
   * could not save is served from the files of the version it revised.
   */
  | { readonly kind: 'bundle'; readonly dir: string; readonly thresholds?: readonly (number | null)[]; readonly manifestSha256: string }
  /** reading: how to read the model (its logits, batch, types and input size; see inspect's classifier-reading.ts). */
  | { readonly kind: 'model'; readonly file: string; readonly classes: number; readonly reading: ClassifierReading; readonly sha256: string };

export type EngineRequest =
  /** verifyHoldMs: longest verification rows held back under load wait when no further batch comes. */
  | { readonly kind: 'load'; readonly id: number; readonly source: EngineSource; readonly version: number; readonly engine: EngineOptions; readonly verifyHoldMs: number }
  /**
   * input [rows, ...sample] (transferred); draws [rows], each row's verification draw, which `rule` reads once the
   * row's exit is known (verify-rule.ts). more: other batches were waiting when this one was sent, so the worker may
   * hold its verification rows back to run them with later ones.
   */
  | { readonly kind: 'infer'; readonly id: number; readonly input: Float32Array; readonly rows: number; readonly sampleDims: readonly number[]; readonly draws: Float64Array; readonly rule: VerifyRule; readonly more: boolean }
  | { readonly kind: 'close'; readonly id: number };

/** A request without its id (the channel assigns it). */
export type EngineCall = EngineRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export type EngineReply =
  | { readonly kind: 'loaded'; readonly id: number; readonly version: number; readonly exits: number }
  | {
    readonly kind: 'result'; readonly id: number; readonly version: number; readonly classes: number;
    readonly probs: Float32Array; readonly exits: Int32Array; readonly confidence: Float32Array;
  }
  /** The batch `id` is done with, its verification included (after its result): the worker takes the next one at once. */
  | { readonly kind: 'idle'; readonly id: number }
  /** Verification of rows held back has started on the hold timer, and has ended: the worker is busy in between. */
  | { readonly kind: 'verifying' }
  | { readonly kind: 'verified-held' }
  | ({ readonly kind: 'error'; readonly id: number } & ErrorReport)
  | { readonly kind: 'closed'; readonly id: number }
  /**
   * Early answers checked against the full backbone after their response was sent:
   * per row the answering exit, whether the backbone agreed, and the input [rows, ...sample].
   */
  /** scores: each answer's score at its exit, in the units of the exit's threshold. */
  /** admit: per row, 1 = drawn under --verify-share, for the online buffer; 0 = verified beyond it (verify-rule.ts). */
  | { readonly kind: 'verified'; readonly version: number; readonly exits: Int32Array; readonly agree: Uint8Array; readonly scores: Float64Array; readonly admit: Uint8Array; readonly input: Float32Array; readonly rows: number }
  /** Verification of early answers failed (their responses were sent already; nothing else is affected). */
  | ({ readonly kind: 'verify-failed'; readonly rows: number } & ErrorReport);

export interface RetrainRequest {
  readonly modelFile: string;
  /** sha256 of the model's self-contained bytes when the server started: a retrain refuses a file that changed since. */
  readonly modelSha256: string;
  readonly sampleDims: readonly number[];
  readonly build: BuildConfig;
  readonly preprocess: PreprocessConfig | null;
  /** Layout of the samples, for augmented copies (also when no preprocessing is recorded). */
  readonly layout: 'nchw' | 'nhwc';
  readonly engine: EngineOptions;
  /** Directory the new bundle version is saved to (atomically). */
  readonly outDir: string;
  readonly version: number;
  /** Latency profile file the builder reads and updates. */
  readonly latencyProfile: string;
}

/**
 * The server's messages to a retraining process: the request, with the number of float32 values of the
 * buffered inputs [count, ...sampleDims] it is to expect, then those values in order, in parts.
 */
export type RetrainMessage =
  | { readonly kind: 'start'; readonly request: RetrainRequest; readonly values: number }
  | { readonly kind: 'samples'; readonly data: Float32Array };

/**
 * A line for the server's log from a retraining process, sent as it happens: a builder note (info), a warning
 * about the latency profile (warn), or a phase of the build that ended, with its seconds.
 */
export type RetrainLog =
  | { readonly kind: 'note'; readonly level: 'info' | 'warn'; readonly text: string }
  | { readonly kind: 'phase'; readonly label: string; readonly seconds: number };

/** What a retraining process says: that it has every buffered input (and starts building), log lines while it builds, then its reply. */
export type RetrainChildMessage = { readonly kind: 'received' } | { readonly kind: 'log'; readonly entry: RetrainLog } | RetrainReply;

export type RetrainReply =
  | {
    readonly kind: 'done'; readonly version: number; readonly exits: number; readonly agreement: number; readonly macsSaved: number; readonly seconds: number;
    /** Why no exit was kept (the runtime check, or the agreement requirement), when none was; else null. */
    readonly noExitReason: string | null;
    /** Whether the latencies came from the profile (every exit's and head's) rather than timing under live traffic. */
    readonly latencyReused: boolean;
  }
  | ({ readonly kind: 'error' } & ErrorReport);

/** A request body for the parser worker: body (transferred) and the Inference-Header-Content-Length (null: none). */
export interface ParseRequest {
  readonly id: number;
  readonly body: Uint8Array;
  readonly headerLength: number | null;
  readonly spec: ModelSpec;
}

/** The parsed request (its tensors transferred), or the error's code and message. */
export type ParseReply =
  | { readonly kind: 'parsed'; readonly id: number; readonly request: InferRequest }
  | ({ readonly kind: 'error'; readonly id: number } & ErrorReport);
