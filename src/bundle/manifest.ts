/**
 * The bundle manifest (manifest.json), format version 1. Invariants: every file the
 * bundle needs is listed with its sha256; exits are in network order and refer to the
 * segment that ends at them; thresholds are in the score's own units (for 'max' and
 * 'temperature' the log-odds −log(1 − p_max), for 'margin' log p₁ − log p₂).
 */
import { z } from 'zod';

const Dim = z.union([z.number().int(), z.string()]);
const IoSpec = z.object({ name: z.string(), dtype: z.string(), shape: z.array(Dim) }).strict();
/** A file inside the bundle directory: relative, never through '..' (a manifest must not make a loader read elsewhere). */
const BundlePath = z.string().regex(/^[\w./-]+$/).refine((f) => !f.startsWith('/') && !f.split('/').includes('..'), 'must be a path inside the bundle directory (relative, no ..)');
const FileRef = z.object({ file: BundlePath, sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict();

export const PreprocessSchema = z.object({
  scale: z.number().positive(),
  mean: z.array(z.number()).min(1),
  std: z.array(z.number().refine((v) => v > 0, 'std must be more than 0')).min(1),
  layout: z.enum(['nchw', 'nhwc']),
}).strict();

export const HeadSpecSchema = z.object({
  pool: z.number().int().min(1),
  hidden: z.number().int().min(0),
  dropout: z.number().min(0).max(0.95),
}).strict();

export const ScoreSchema = z.object({
  kind: z.enum(['max', 'margin', 'temperature']),
}).strict();

/** A candidate exit with its trained head, kept for evaluation (oracle, paper rule) even when not selected. */
export const CandidateSchema = z.object({
  candidate: z.number().int().min(0),
  tensor: z.string(),
  shape: z.array(Dim),
  head: FileRef.extend({ spec: HeadSpecSchema, macs: z.number().min(0) }).strict(),
  temperature: z.number().positive(),
  cumulativeMacs: z.number().min(0),
  costMs: z.number().min(0),
  /** False when two-phase training only screened this candidate: its head is briefly trained and it could not be kept (absent: fully trained). */
  refined: z.boolean().optional(),
}).strict();

/** A kept exit: a candidate with the threshold chosen for it. */
export const ExitEntrySchema = CandidateSchema.extend({
  /**
   * Answer here when score ≥ threshold (in the score's units, see the top comment); null
   * when the server's accuracy guard disabled the exit.
   */
  threshold: z.number().nullable(),
  /** Fraction of calibration samples answered at this exit. */
  expectedHitRate: z.number().min(0).max(1),
}).strict();

const DTypeSchema = z.enum(['float32', 'float64', 'float16', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool']);

export const ManifestSchema = z.object({
  format: z.literal('layercache.bundle/1'),
  version: z.number().int().min(1),
  createdAt: z.string(),
  layercacheVersion: z.string(),
  source: z.object({
    file: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    backbone: FileRef,
    /**
     * How the backbone is read (inspect's classifier-reading.ts): its logits, a fixed batch freed, input and score
     * types cast, open input dims fixed.
     * Segments were cut from the backbone read so; whatever runs backbone.onnx reads it so too. Absent: read as is.
     */
    reading: z.object({
      // Absent in bundles built before these were recorded: the first output, as it is.
      scoresOutput: z.string().min(1).nullable().default(null),
      flattenScores: z.boolean().default(false),
      logits: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('logits') }).strict(),
        z.object({ kind: z.literal('softmax'), node: z.string() }).strict(),
        z.object({ kind: z.literal('log') }).strict(),
      ]),
      dynamicBatch: z.boolean(),
      inputDtype: DTypeSchema.nullable(),
      outputDtype: DTypeSchema.nullable(),
      sampleDims: z.array(z.number().int().min(1)).nullable(),
    }).strict().optional(),
    inputs: z.array(IoSpec).min(1),
    outputs: z.array(IoSpec).min(1),
    totalMacs: z.number().min(0),
    classes: z.number().int().min(2),
  }).strict(),
  preprocess: PreprocessSchema.nullable(),
  score: ScoreSchema,
  exits: z.array(ExitEntrySchema),
  /** exits.length + 1 segments: inputs → exit 0 → … → outputs. */
  segments: z.array(FileRef.extend({ macs: z.number().min(0) }).strict()).min(1),
  candidates: z.array(CandidateSchema),
  build: z.record(z.string(), z.unknown()),
  metrics: z.record(z.string(), z.unknown()),
}).strict().superRefine((m, ctx) => {
  if (m.segments.length !== m.exits.length + 1) {
    ctx.addIssue({ code: 'custom', message: `has ${m.exits.length} exits but ${m.segments.length} segments (expected ${m.exits.length + 1})`, path: ['segments'] });
  }
  for (let i = 1; i < m.exits.length; i++) {
    if (m.exits[i]!.candidate <= m.exits[i - 1]!.candidate) ctx.addIssue({ code: 'custom', message: 'exits are not in network order', path: ['exits', i] });
  }
  // backbone.onnx holds the very bytes the bundle was built from (the file's own sha256 is checked on load).
  if (m.source.backbone.sha256 !== m.source.sha256) {
    ctx.addIssue({ code: 'custom', message: `the backbone file's sha256 ${m.source.backbone.sha256.slice(0, 12)}… is not the source model's ${m.source.sha256.slice(0, 12)}…`, path: ['source', 'backbone', 'sha256'] });
  }
  m.candidates.forEach((c, k) => {
    if (c.candidate !== k) ctx.addIssue({ code: 'custom', message: `candidate ${k} is numbered ${c.candidate}`, path: ['candidates', k, 'candidate'] });
  });
  // A bundle lists every candidate exit (for eval's oracle and headroom); each kept exit is one of them.
  m.exits.forEach((e, i) => {
    const c = m.candidates[e.candidate];
    if (m.candidates.length > 0 && (!c || c.tensor !== e.tensor)) {
      ctx.addIssue({ code: 'custom', message: `exit ${i} names candidate ${e.candidate} at '${e.tensor}', which the candidates list does not have`, path: ['exits', i, 'candidate'] });
    }
  });
});

export type Manifest = z.infer<typeof ManifestSchema>;
export type ExitEntry = z.infer<typeof ExitEntrySchema>;
export type ScoreSpec = z.infer<typeof ScoreSchema>;
export type CandidateEntry = z.infer<typeof CandidateSchema>;
