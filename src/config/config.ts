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

export const ConfigSchema = z.object({
  engine: EngineSchema.default({ intraOpThreads: 0, graphOptimization: 'all' }),
  /** Colour in terminal output (off when NO_COLOR is set). */
  color: z.boolean().default(true),
  /** Print stack traces and error causes. */
  verbose: z.boolean().default(false),
}).strict();

export type Config = Readonly<{
  engine: Readonly<z.infer<typeof EngineSchema>>;
  color: boolean;
  verbose: boolean;
}>;

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
  });
}
