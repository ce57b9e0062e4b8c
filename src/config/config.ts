/**
 * The configuration schema of layercache. Invariants: this is the only module that
 * reads process.env; configuration is validated once, frozen, and passed down as an
 * argument; unknown keys are rejected; units are part of the names.
 */
import { z } from 'zod';
import { LayercacheError } from '../errors/index.ts';

const EngineSchema = z.object({
  /** Threads per onnxruntime operator; 0 lets onnxruntime choose. */
  intraOpThreads: z.number().int().min(0).max(256).default(0),
  graphOptimization: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
}).strict();

const HeadSpecSchema = z.object({
  pool: z.number().int().min(1).max(16),
  hidden: z.number().int().min(0).max(4096),
  dropout: z.number().min(0).max(0.9),
}).strict();

const BuildSchema = z.object({
  /** Allowed disagreement with the backbone, in (0, 1). */
  tolerance: z.number().gt(0).lt(1).default(0.01),
  /** Statistical mode: disagreement ≤ tolerance with confidence 1 − delta. */
  delta: z.number().gt(0).lt(1).nullable().default(null),
  /** Empirical mode safety margin on the cross-validated agreement; null = tolerance / 5. */
  margin: z.number().min(0).lt(1).nullable().default(null),
  /** Batch size whose latency the selection minimises. */
  batch: z.number().int().min(1).max(4096).default(1),
  score: z.enum(['max', 'margin', 'temperature']).default('max'),
  folds: z.number().int().min(2).max(20).default(3),
  /** Label-free augmented copies of the build samples ('flip' mirrors images, 'crop' shifts them). */
  augment: z.array(z.enum(['flip', 'crop'])).max(4).default([]),
  family: z.array(HeadSpecSchema).min(1).default([{ pool: 4, hidden: 128, dropout: 0.3 }, { pool: 1, hidden: 0, dropout: 0 }]),
  epochs: z.number().int().min(1).max(1000).default(12),
  trainBatch: z.number().int().min(1).max(65536).default(256),
  learningRate: z.number().gt(0).max(1).default(0.002),
  weightDecay: z.number().min(0).max(1).default(0.0005),
  /** Distillation temperature T (T = 4 gave heads better-ranked confidence than T = 1 on CIFAR ResNets). */
  temperature: z.number().gt(0).max(100).default(4),
  seed: z.number().int().min(0).default(1),
  collectBatch: z.number().int().min(1).max(4096).default(64),
  measureReps: z.number().int().min(3).max(10000).default(30),
}).strict();

const PreprocessSchema = z.object({
  scale: z.number().gt(0).default(1),
  mean: z.array(z.number()).min(1).default([0]),
  std: z.array(z.number().refine((v) => v !== 0, 'must not be 0')).min(1).default([1]),
  layout: z.enum(['nchw', 'nhwc']).default('nchw'),
}).strict();

export const ConfigSchema = z.object({
  engine: EngineSchema.default({ intraOpThreads: 0, graphOptimization: 'all' }),
  build: BuildSchema.default(BuildSchema.parse({})),
  preprocess: PreprocessSchema.default(PreprocessSchema.parse({})),
  /** Colour in terminal output (off when NO_COLOR is set). */
  color: z.boolean().default(true),
  /** Print stack traces and error causes. */
  verbose: z.boolean().default(false),
}).strict();

type DeepReadonly<T> = T extends (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

export type Config = DeepReadonly<z.infer<typeof ConfigSchema>>;
export type BuildConfig = Config['build'];
export type PreprocessConfig = Config['preprocess'];

export type ConfigInput = z.input<typeof ConfigSchema>;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Validates a configuration object and freezes it. */
export function parseConfig(input: ConfigInput): Config {
  const result = ConfigSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.join('.') || '(root)';
    throw new LayercacheError('CONFIG_INVALID', `configuration value ${where} is invalid: ${issue.message}`, { cause: result.error });
  }
  return deepFreeze(result.data);
}

/**
 * Builds the configuration from explicit settings over environment variables:
 * LAYERCACHE_THREADS (engine.intraOpThreads) and NO_COLOR (color off).
 */
export function loadConfig(overrides: ConfigInput = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const fromEnv: ConfigInput = {};
  const threads = env.LAYERCACHE_THREADS;
  if (threads !== undefined && threads !== '') {
    const n = Number(threads);
    if (!Number.isInteger(n) || n < 0) {
      throw new LayercacheError('CONFIG_INVALID', `LAYERCACHE_THREADS='${threads}' is not a non-negative integer; unset it or set e.g. LAYERCACHE_THREADS=2`);
    }
    fromEnv.engine = { intraOpThreads: n };
  }
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') fromEnv.color = false;
  return parseConfig({
    ...fromEnv,
    ...overrides,
    engine: { ...fromEnv.engine, ...overrides.engine },
    ...(overrides.build ? { build: overrides.build } : {}),
  });
}
