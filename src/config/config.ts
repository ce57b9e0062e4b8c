/**
 * The configuration schema of layercache. Invariants: this is the only module that
 * reads process.env; configuration is validated once, frozen, and passed down as an
 * argument; unknown keys are rejected; units are part of the names.
 */
import { z } from 'zod';
import { LayercacheError, requireArgument } from '../errors/index.ts';
import { parseDecimal } from './decimal.ts';
import { isHostName, requireSections } from './input-shape.ts';

/** Most onnxruntime threads per operator a configuration may ask for. */
export const MAX_THREADS = 256;

/** Most augmented copies a build may ask for (each costs one backbone pass per sample). */
export const MAX_AUGMENTED_COPIES = 32;

/** onnxruntime's graph optimisation levels, as engine.graphOptimization names them. */
export const GRAPH_OPTIMIZATIONS = ['disabled', 'basic', 'extended', 'all'] as const;

const EngineSchema = z.object({
  /** Threads per onnxruntime operator; 0 lets onnxruntime choose. */
  intraOpThreads: z.number().int().min(0).max(MAX_THREADS).default(0),
  graphOptimization: z.enum(GRAPH_OPTIMIZATIONS).default('all'),
}).strict();

const HeadSpecSchema = z.object({
  pool: z.number().int().min(1).max(16),
  hidden: z.number().int().min(0).max(4096),
  dropout: z.number().min(0).max(0.9),
}).strict();

const BuildSchema = z.object({
  /** The model output holding the class scores; null reads the first (`--scores-output`). */
  scoresOutput: z.string().min(1).nullable().default(null),
  /** Allowed disagreement with the backbone, in (0, 1). */
  tolerance: z.number().gt(0).lt(1).default(0.01),
  /** Statistical mode: disagreement ≤ tolerance with confidence 1 − delta. */
  delta: z.number().gt(0).lt(1).nullable().default(null),
  /** Empirical mode safety margin on the cross-validated agreement; null = tolerance / 5. */
  margin: z.number().min(0).lt(1).nullable().default(null),
  /** Batch size whose latency the selection minimises. */
  batch: z.number().int().min(1).max(4096).default(1),
  /**
   * What the selection minimises: measured latency at `batch` (then checked on the real
   * runtime), or MACs per sample (heads included; no runtime check).
   */
  objective: z.enum(['latency', 'macs']).default('latency'),
  score: z.enum(['max', 'margin', 'temperature']).default('max'),
  folds: z.number().int().min(2).max(20).default(3),
  /**
   * Splits of the calibration samples into folds whose cross-validated outcomes are averaged to
   * judge each candidate policy (1 = the samples dealt out in order only). More splits make the
   * selection steadier between builds of the same data.
   */
  cvSplits: z.number().int().min(1).max(50).default(5),
  /**
   * Folds of each of those splits: thresholds fitted on all folds but one are judged on that one. 2 fits them on
   * half the samples, noisier thresholds than the deployed policy's, fitted on all; more folds judge a policy
   * closer to the one deployed, and spend more of the margin. null: 5 for builds of 5,000 or more
   * samples, 2 below (builder/cv-folds.ts has the evidence).
   */
  cvFolds: z.number().int().min(2).max(20).nullable().default(null),
  /** Label-free augmented copies of the build samples, one per entry ('flip' mirrors images, 'crop' shifts them, 'random' does both at random). */
  augment: z.array(z.enum(['flip', 'crop', 'random'])).max(MAX_AUGMENTED_COPIES)
    .refine((a) => a.filter((k) => k === 'flip').length <= 1, 'lists flip more than once, but every mirrored copy is the same; use random for more copies').default([]),
  family: z.array(HeadSpecSchema).min(1).default([{ pool: 4, hidden: 128, dropout: 0.3 }, { pool: 1, hidden: 0, dropout: 0 }]),
  /**
   * Training epochs of the heads that can be kept (a cosine schedule). The heads were
   * undertrained at 12: 36 for every head lifted ResNet-56's in-sample best from 18.4% to 21.8%
   * of MACs at 1% (BENCHMARKS.md, "Longer head training").
   */
  epochs: z.number().int().min(1).max(1000).default(36),
  /**
   * Two-phase training: when there are more candidate exits than this, every family member
   * at every exit is first trained for `screenEpochs` only, and just the `refineExits` exits
   * whose chosen head promises the largest saving are then trained for `epochs`; the others
   * cannot be kept. Build time then grows with refineExits, not with the candidate count.
   * 16 since heads train on standardised features (session 14, ResNet-56: in-sample best 23.9% → 24.5% at the
   * default learning rate, 25.6% → 26.9% at 0.006).
   */
  refineExits: z.number().int().min(1).max(10000).default(16),
  screenEpochs: z.number().int().min(1).max(1000).default(6),
  trainBatch: z.number().int().min(1).max(65536).default(256),
  /**
   * AdamW's peak rate. On standardised features ResNet-56's heads gain from more than 0.002 (in-sample best
   * 24.6 / 25.9 / 26.9% of MACs at 0.002 / 0.004 / 0.006, session 15). Until the selection tried raised thresholds
   * (calibrate/select.ts), sharper heads made the demo's 2,000-sample build keep no exit for one seed in two; since,
   * the demo saves 64.3 / 65.3 / 63.6% of MACs at those rates (mean of four seeds) with every seed held out at 99% or
   * more from 0.004 up.
   */
  learningRate: z.number().gt(0).max(1).default(0.004),
  weightDecay: z.number().min(0).max(1).default(0.0005),
  /** Distillation temperature T (T = 4 gave heads better-ranked confidence than T = 1 on CIFAR ResNets). */
  temperature: z.number().gt(0).max(100).default(4),
  seed: z.number().int().min(0).default(1),
  collectBatch: z.number().int().min(1).max(4096).default(64),
  measureReps: z.number().int().min(3).max(10000).default(50),
  /**
   * Latency profile file (`build --latency-profile`, `serve --latency-profile`): latencies
   * measured before on this machine for the same backbone, batch and engine settings are read
   * from it instead of timed again, and the build's own are written back (atomically); one
   * file holds one backbone × batch × engine. Builds of the same data that share it choose the
   * same bundle. The CLI and the server honour it; library callers wrap buildCascade in
   * withLatencyProfileFile. null: every build times afresh (the server then keeps
   * STATE/latency-profile.json).
   */
  latencyProfile: z.string().min(1).nullable().default(null),
}).strict();

const PreprocessSchema = z.object({
  scale: z.number().gt(0).default(1),
  mean: z.array(z.number()).min(1).default([0]),
  std: z.array(z.number().refine((v) => v > 0, 'must be more than 0')).min(1).default([1]),
  layout: z.enum(['nchw', 'nhwc']).default('nchw'),
}).strict();

const OnlineSchema = z.object({
  /** Learn heads from live traffic (retrain, reselect, hot-swap). */
  enabled: z.boolean().default(true),
  /** Buffered samples before the first retrain. */
  retrainAfter: z.number().int().min(20).max(10_000_000).default(2000),
  /** New buffered samples between later retrains. */
  retrainEvery: z.number().int().min(1).max(10_000_000).default(2000),
  /** Sliding-window buffer: at most this many samples … */
  bufferSamples: z.number().int().min(20).max(10_000_000).default(5000),
  /** … and at most this many bytes of stored inputs. */
  bufferBytes: z.number().int().min(1 << 20).default(512 * 2 ** 20),
  /** Share of early answers verified against the full backbone after the response (more of an exit's that answers under a tenth of the rows), and of requests admitted to the buffer once exits answer. */
  verifyShare: z.number().min(0).max(1).default(0.05),
  /** Verified early answers per exit kept in the guard's sliding window. */
  guardWindow: z.number().int().min(10).max(1_000_000).default(400),
  /** Verified early answers an exit needs before the guard may act on it for the tolerance. */
  guardMinSamples: z.number().int().min(5).max(1_000_000).default(40),
  /** Verified early answers an exit needs before the guard may disable it for agreement surely under one half (guardMinSamples if fewer). */
  guardFloorSamples: z.number().int().min(5).max(1_000_000).default(16),
  /** Confidence 1 − delta of the guard's bounds on agreement at each look (split over the exits), and again of its bounds on each exit's recent runs. */
  guardDelta: z.number().gt(0).lt(1).default(0.05),
  /** Least log-odds added to an offending exit's threshold (its verified answers may call for more); after guardMaxRaises raises, or when no threshold would do, it is disabled. */
  guardRaise: z.number().gt(0).max(100).default(1),
  /**
   * Share of requests verified while the guard's point estimate puts live agreement below 1 − tolerance (not yet
   * significantly): evidence to act on, or the all-clear, then comes within hundreds of requests.
   */
  guardBoostShare: z.number().min(0).max(1).default(0.5),
  guardMaxRaises: z.number().int().min(0).max(100).default(3),
  /**
   * Save the online buffer to STATE/buffer.bin at a graceful shutdown and read it back at the next start (with
   * --state only), so a restart keeps the traffic a retrain was waiting for. The write takes up to bufferBytes.
   */
  persistBuffer: z.boolean().default(true),
  /** Bundle versions kept under STATE/versions (newest first; the serving one always stays); older ones are deleted. */
  keepVersions: z.number().int().min(1).max(100_000).default(10),
  /**
   * Under load an engine worker holds early answers picked for verification back until 16 are
   * pending and verifies them as one backbone batch; this is the longest they wait when no
   * further batch comes.
   */
  verifyHoldMs: z.number().int().min(1).max(60_000).default(50),
  /**
   * onnxruntime threads of the retraining process; null = the serving engine's setting, so the
   * builder measures segment latencies as they will be served (fewer threads leave cores for
   * serving during a retrain, but make the latency model differ from the serving engine).
   */
  retrainThreads: z.number().int().min(0).max(MAX_THREADS).nullable().default(null),
  seed: z.number().int().min(0).default(1),
}).strict();

/** A bearer token: printable ASCII without spaces, long enough not to be guessed. */
const TOKEN = /^[\x21-\x7e]{16,4096}$/;

const ServeSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1–128 letters, digits, ".", "_" or "-"').default('layercache'),
  host: z.string().min(1).default('127.0.0.1'),
  /**
   * Host names answered besides loopback ones while the server listens on loopback only and has no token (the
   * names a reverse proxy on this machine forwards); other names are refused (DNS rebinding).
   */
  // A zone id (fe80::1%eth0) never matches: a Host header cannot carry one.
  allowedHosts: z.array(z.string().refine((h) => isHostName(h) && !h.includes('%'), 'must be a host name or an IP address (IPv6 in brackets or not, without a zone id), without a port')).default([]),
  port: z.number().int().min(0).max(65535).default(8080),
  /** Directory of persisted bundle versions (online mode); null keeps them in a temporary directory. */
  stateDir: z.string().min(1).nullable().default(null),
  /** Dynamic batcher: rows per batch sent to the engine. */
  maxBatchSize: z.number().int().min(1).max(4096).default(32),
  /**
   * Dynamic batcher: longest a request waits for others to join its batch when an engine is
   * idle (0 = send at once; batches still form from requests that queue while engines are busy).
   */
  maxQueueDelayUs: z.number().int().min(0).max(10_000_000).default(0),
  /** Rows waiting in the queue before new requests get 503. */
  maxQueueRows: z.number().int().min(1).max(1_000_000).default(512),
  /** Rows one request may carry. */
  maxRequestRows: z.number().int().min(1).max(65_536).default(256),
  requestTimeoutMs: z.number().int().min(1).max(3_600_000).default(30_000),
  bodyLimitBytes: z.number().int().min(1024).max(2 ** 31).default(64 * 2 ** 20),
  /** Longest a graceful shutdown waits for in-flight requests. */
  shutdownTimeoutMs: z.number().int().min(0).max(3_600_000).default(10_000),
  /** Classes returned by the classify route. */
  topK: z.number().int().min(1).max(1000).default(5),
  /** Class names for the classify route, in class order; empty uses the class index. */
  labels: z.array(z.string()).default([]),
  /**
   * Bearer token every route but health and metrics requires (`Authorization: Bearer TOKEN`);
   * null = no authentication. Read from LAYERCACHE_TOKEN when not given.
   */
  token: z.string().regex(TOKEN, 'must be 16–4096 printable ASCII characters without spaces (e.g. from `openssl rand -hex 32`)').nullable().default(null),
  /**
   * Allowed disagreement with the backbone while serving: the accuracy guard acts below 1 − tolerance, and retrains
   * select for it. null = the given bundle's own (as built), and build.tolerance for a bare model.
   */
  tolerance: z.number().gt(0).lt(1).nullable().default(null),
  /** Engine worker threads; each holds its own sessions. */
  workers: z.number().int().min(1).max(64).default(1),
  log: z.enum(['silent', 'error', 'warn', 'info', 'debug']).default('info'),
  online: OnlineSchema.default(OnlineSchema.parse({})),
}).strict();

export const ConfigSchema = z.object({
  engine: EngineSchema.default({ intraOpThreads: 0, graphOptimization: 'all' }),
  build: BuildSchema.default(BuildSchema.parse({})),
  preprocess: PreprocessSchema.default(PreprocessSchema.parse({})),
  serve: ServeSchema.default(ServeSchema.parse({})),
  /** Colour in terminal output (off when NO_COLOR is set, or TERM=dumb). */
  color: z.boolean().default(true),
  /** Animated progress bars when stderr is a terminal (off when TERM=dumb, which cannot move its cursor: one line per finished phase instead). */
  progressBars: z.boolean().default(true),
  /** Print stack traces and error causes. */
  verbose: z.boolean().default(false),
}).strict();

type DeepReadonly<T> = T extends (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

export type Config = DeepReadonly<z.infer<typeof ConfigSchema>>;
export type BuildConfig = Config['build'];
export type PreprocessConfig = Config['preprocess'];
export type ServeConfig = Config['serve'];
export type OnlineConfig = Config['serve']['online'];

export type ConfigInput = z.input<typeof ConfigSchema>;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Fewest samples a build takes: below it, cross-fitting leaves folds of a few rows and thresholds mean nothing. */
export function minBuildSamples(folds: number): number {
  return Math.max(32, 8 * folds);
}

/** Settings that are valid alone but not together; the first conflict found, or null. */
function conflict(c: z.infer<typeof ConfigSchema>): { where: string; value: number; message: string } | null {
  const o = c.serve.online;
  const least = minBuildSamples(c.build.folds);
  if (o.enabled && o.retrainAfter < least) return { where: 'serve.online.retrainAfter', value: o.retrainAfter, message: `${o.retrainAfter} samples are too few for a build with ${c.build.folds} folds; use at least ${least}` };
  if (o.enabled && o.bufferSamples < least) return { where: 'serve.online.bufferSamples', value: o.bufferSamples, message: `${o.bufferSamples} samples are too few for a build with ${c.build.folds} folds; use at least ${least}` };
  if (c.build.delta !== null && c.build.margin !== null) return { where: 'build.margin', value: c.build.margin, message: `${c.build.margin} is a margin for the empirical mode, but a confidence δ (${c.build.delta}) is set, whose Clopper–Pearson bound takes the margin's place; give one of them` };
  if (o.guardMinSamples > o.guardWindow) return { where: 'serve.online.guardMinSamples', value: o.guardMinSamples, message: `${o.guardMinSamples} is more than the guard's window of ${o.guardWindow} answers, so the guard could never act; lower it or raise guardWindow` };
  return null;
}

/** A schema issue in plain words ("must be at most 65535"), not the validator's ("Too big: expected number to be <=65535"). */
function plainProblem(issue: z.core.$ZodIssue): string {
  const bound = (limit: unknown, inclusive: boolean | undefined, most: boolean): string => `${inclusive === false ? (most ? 'less than' : 'more than') : (most ? 'at most' : 'at least')} ${String(limit)}`;
  switch (issue.code) {
    case 'too_big':
    case 'too_small': {
      const most = issue.code === 'too_big';
      const b = bound(most ? issue.maximum : issue.minimum, issue.inclusive, most);
      if (issue.origin === 'string') return `must have ${b} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have ${b} items`;
      return `must be ${b}`;
    }
    case 'invalid_type':
      return issue.expected === 'int' ? 'must be a whole number' : `must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `has unknown setting${issue.keys.length === 1 ? '' : 's'} ${issue.keys.join(', ')}`;
    default:
      return issue.message;
  }
}

/** Configurations parseConfig returned (loadConfig's and deriveConfig's included): valid and frozen. */
const validated = new WeakSet<object>();

/**
 * `given` as a valid configuration: itself when parseConfig made it, else parsed now (one made in code may hold
 * anything; CONFIG_INVALID names the setting). For the public functions that take a Config.
 */
export function validConfig(given: Config): Config {
  return validated.has(given) ? given : parseConfig(given as ConfigInput);
}

/** Validates a configuration object and freezes it. */
export function parseConfig(input: ConfigInput): Config {
  const result = ConfigSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.join('.') || '(root)';
    const value = issue.path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), input);
    const problem = plainProblem(issue);
    // The token is a secret: its length only, also inside an object shown whole (an unknown key beside it).
    const secret = (v: unknown): string => `<${String(v).length} characters>`;
    const shown = value === undefined ? '' : where === 'serve.token' ? ` (${String(value).length} characters)`
      // NaN and ±Infinity as themselves: JSON shows them as null.
      : typeof value === 'number' ? ` (${String(value)})`
      : ` (${JSON.stringify(value, (k, v: unknown) => (k === 'token' && typeof v === 'string' ? secret(v) : v))?.slice(0, 80) ?? String(value)})`;
    throw new LayercacheError('CONFIG_INVALID', `configuration value ${where}${shown} is invalid: ${problem}`, { cause: result.error, setting: { path: where, value, problem } });
  }
  const bad = conflict(result.data);
  if (bad) throw new LayercacheError('CONFIG_INVALID', `configuration value ${bad.where} is invalid: ${bad.message}`, { setting: { path: bad.where, value: bad.value, problem: bad.message } });
  const config = deepFreeze(result.data);
  validated.add(config);
  return config;
}

export interface LoadOptions {
  /**
   * Whether the configuration will serve (default true): LAYERCACHE_TOKEN is read only then (an empty or malformed
   * one refused); commands that do not serve ignore it.
   */
  readonly serving?: boolean;
}

/**
 * Builds the configuration from explicit settings over environment variables:
 * LAYERCACHE_THREADS (engine.intraOpThreads), LAYERCACHE_TOKEN (serve.token), NO_COLOR
 * (color off) and TERM=dumb (color and progressBars off).
 */
export function loadConfig(overrides: ConfigInput = {}, env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): Config {
  requireSections(overrides);
  requireArgument('loadConfig(overrides, env, opts)', 'env', env, 'object', 'the environment to read, e.g. process.env, or {} for none');
  requireArgument('loadConfig(overrides, env, opts)', 'opts', opts, 'object', 'options such as { serving: false }, or nothing');
  const fromEnv: ConfigInput = {};
  const threads = env.LAYERCACHE_THREADS;
  if (threads !== undefined && threads !== '') {
    // In decimal, as --threads: Number() reads ' ' as 0 and '0x2' as 2.
    const n = parseDecimal(threads);
    // Checked here, range included, so that the error names the variable rather than a setting or flag.
    if (!Number.isInteger(n) || n < 0 || n > MAX_THREADS) {
      throw new LayercacheError('CONFIG_INVALID', `LAYERCACHE_THREADS='${threads}' is not an integer from 0 to ${MAX_THREADS}; unset it or set e.g. LAYERCACHE_THREADS=2`);
    }
    fromEnv.engine = { intraOpThreads: n };
  }
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') fromEnv.color = false;
  // A dumb terminal prints escape codes literally: no colour, and no bar redrawn in place.
  if (env.TERM === 'dumb') {
    fromEnv.color = false;
    fromEnv.progressBars = false;
  }
  // Only a configuration that serves reads the token: other commands ignore it, malformed or empty.
  const token = (opts.serving ?? true) ? env.LAYERCACHE_TOKEN : undefined;
  if (token === '') {
    // A secret that failed to load (an empty file, a missing variable in a template) must not open the server silently.
    throw new LayercacheError('CONFIG_INVALID', 'LAYERCACHE_TOKEN is set but empty, which would serve without authentication; unset it to run without a token, or set a token of 16–4096 printable ASCII characters (e.g. from `openssl rand -hex 32`)');
  }
  if (token !== undefined && token !== '') {
    // Named here, not as serve.token: every command reads the environment, and the fix is in the shell.
    if (!TOKEN.test(token)) {
      throw new LayercacheError('CONFIG_INVALID', `LAYERCACHE_TOKEN (${token.length} characters) must be 16–4096 printable ASCII characters without spaces; set it from e.g. \`openssl rand -hex 32\`, or unset it`);
    }
    fromEnv.serve = { token };
  }
  return parseConfig({
    ...fromEnv,
    ...overrides,
    engine: { ...fromEnv.engine, ...overrides.engine },
    ...(overrides.build ? { build: overrides.build } : {}),
    ...(fromEnv.serve || overrides.serve ? { serve: { ...fromEnv.serve, ...overrides.serve } } : {}),
  });
}

/**
 * A configuration derived from a validated one: `overrides` replace fields section by section
 * (build, engine, preprocess, serve, serve.online), and the result is validated and frozen again.
 */
export function deriveConfig(base: Config, overrides: ConfigInput): Config {
  requireSections(overrides);
  // Config is plain data (numbers, strings, booleans, null, arrays): a JSON copy is exact and mutable.
  const b = JSON.parse(JSON.stringify(base)) as z.infer<typeof ConfigSchema>;
  return parseConfig({
    ...b,
    ...overrides,
    engine: { ...b.engine, ...overrides.engine },
    build: { ...b.build, ...overrides.build },
    preprocess: { ...b.preprocess, ...overrides.preprocess },
    serve: { ...b.serve, ...overrides.serve, online: { ...b.serve.online, ...overrides.serve?.online } },
  });
}
