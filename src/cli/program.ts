/**
 * The CLI composition root: parses arguments, builds the one Config, runs a command,
 * and maps errors to one-line messages and exit codes.
 * Invariants: returns an exit code instead of exiting (main.ts exits); an error prints
 * one line "layercache: error CODE: message" unless --verbose asks for the stack and causes.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { hasManifest } from '../bundle/index.ts';
import { loadConfig, type Config } from '../config/index.ts';
import { asLayercacheError, LayercacheError } from '../errors/index.ts';
import { isImageSpec, parseAugmentList } from '../data/index.ts';
import { stopUndoOnInterrupt, undoWritesOnInterrupt } from './interrupt.ts';
import { runBuild } from './commands/build.ts';
import { runEval } from './commands/eval.ts';
import { runInspect } from './commands/inspect.ts';
import { runSplit } from './commands/split.ts';
import { readLabels, runServe } from './commands/serve.ts';
import { runDemoCommand } from './commands/demo.ts';
import { rawPixelsWarning } from './format.ts';
import type { CliIo } from './io.ts';
import { parseChoice, parseCount, parsePath, parsePositiveCount, parseFraction, parseImageSize, parseInputShape, parseNameList, parseNumber, parseNumberList, parsePathArgument } from './options.ts';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

interface GlobalOptions {
  verbose?: boolean;
  threads?: number;
}

/** The flag that sets each configuration value, so that range errors name what the user typed. */
const FLAG_OF_SETTING: Readonly<Record<string, string>> = {
  'engine.intraOpThreads': '--threads',
  'build.tolerance': '--tolerance', 'build.delta': '--confidence', 'build.margin': '--margin', 'build.batch': '--batch', 'build.objective': '--objective',
  'build.score': '--score', 'build.folds': '--folds', 'build.cvSplits': '--cv-splits', 'build.cvFolds': '--cv-folds', 'build.augment': '--augment', 'build.epochs': '--epochs',
  'build.refineExits': '--refine-exits', 'build.screenEpochs': '--screen-epochs', 'build.seed': '--seed', 'build.temperature': '--distill-temperature',
  'build.latencyProfile': '--latency-profile', 'build.scoresOutput': '--scores-output',
  'preprocess.scale': '--scale', 'preprocess.mean': '--mean', 'preprocess.std': '--std', 'preprocess.layout': '--layout',
  'serve.tolerance': '--tolerance', 'serve.name': '--name', 'serve.host': '--host', 'serve.allowedHosts': '--allowed-host', 'serve.port': '--port', 'serve.stateDir': '--state', 'serve.workers': '--workers',
  'serve.maxBatchSize': '--max-batch-size', 'serve.maxQueueDelayUs': '--max-queue-delay-us', 'serve.maxQueueRows': '--max-queue-rows',
  'serve.maxRequestRows': '--max-request-rows', 'serve.requestTimeoutMs': '--timeout-ms', 'serve.bodyLimitBytes': '--body-limit',
  'serve.token': '--token', 'serve.labels': '--labels', 'serve.online.retrainAfter': '--retrain-after', 'serve.online.retrainEvery': '--retrain-every',
  'serve.online.bufferSamples': '--buffer-samples', 'serve.online.bufferBytes': '--buffer-bytes', 'serve.online.verifyShare': '--verify-share',
};

/** A configuration error about a value a flag set, as a usage error naming the flag; others unchanged. */
export function inFlagTerms(err: LayercacheError): LayercacheError {
  const s = err.code === 'CONFIG_INVALID' ? err.setting : undefined;
  // 'preprocess.mean.1' is set by --mean.
  const key = s && Object.keys(FLAG_OF_SETTING).find((k) => s.path === k || s.path.startsWith(`${k}.`));
  if (!s || !key) return err;
  const flag = FLAG_OF_SETTING[key]!;
  const shown = (v: unknown): string => (Array.isArray(v) ? v.join(',') : String(v));
  // The token is a secret: never printed, its length only.
  const what = key === 'serve.token' ? `${flag} (${String(s.value).length} characters)`
    : s.path === key ? `${flag} '${shown(s.value)}'` : `${flag} item ${Number(s.path.slice(key.length + 1)) + 1} ('${shown(s.value)}')`;
  return new LayercacheError('USAGE', `${what} is invalid: ${s.problem}`, { cause: err });
}

function describeError(err: LayercacheError, verbose: boolean): string {
  let text = `layercache: error ${err.code}: ${err.message}\n`;
  if (verbose) {
    text += `${err.stack ?? ''}\n`;
    let cause = err.cause;
    while (cause !== undefined) {
      text += `caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}\n`;
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  }
  return text;
}

const shapeOption = (): Option =>
  new Option('--input-shape <name=dims>', 'concrete shape for an input with symbolic non-batch dims (repeatable), e.g. input=1x3x224x224')
    .argParser((v: string, prev: Record<string, number[]> | undefined) => parseInputShape(v, prev));

/** Adds the preprocessing options shared by every command that reads images. */
function addPreprocessOptions(cmd: Command): Command {
  return cmd
    .option('--scale <s>', 'x = (pixel / scale - mean) / std (default 1: pixels as 0–255)', (v) => parseNumber(v, '--scale'))
    .option('--mean <m>', 'per-channel mean, e.g. 0.485,0.456,0.406 (default 0)', (v) => parseNumberList(v, '--mean'))
    .option('--std <s>', 'per-channel std, e.g. 0.229,0.224,0.225 (default 1)', (v) => parseNumberList(v, '--std'))
    .option('--layout <layout>', 'nchw | nhwc', (v) => parseChoice(v, '--layout', ['nchw', 'nhwc'] as const), 'nchw');
}

/** Which of --scale, --mean and --std were given (their names without dashes). */
function normalisationGiven(o: Record<string, unknown>): string[] {
  return ['scale', 'mean', 'std'].filter((k) => o[k] !== undefined);
}

function preprocessFrom(o: Record<string, unknown>): Record<string, unknown> {
  const p: Record<string, unknown> = { layout: o.layout };
  if (o.scale !== undefined) p.scale = o.scale;
  if (o.mean !== undefined) p.mean = o.mean;
  if (o.std !== undefined) p.std = o.std;
  return p;
}

/** Runs the CLI with `argv` (without node and script). Resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo, env?: NodeJS.ProcessEnv): Promise<number> {
  let config: Config | undefined;
  const program = new Command('layercache')
    .description('Make a pre-trained ONNX classifier faster with early-exit cache heads.')
    .version(pkg.version, '-V, --version')
    .option('--verbose', 'print stack traces and error causes')
    .addOption(new Option('--threads <n>', 'onnxruntime threads per operator (0 = auto; env LAYERCACHE_THREADS)').argParser((v) => parseCount(v, '--threads')))
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nExit status: 0 success, 2 bad input or usage, 1 internal failure; each error prints one line\n"layercache: error CODE: message" (codes and fixes: docs/errors.md). NO_COLOR turns colour off;\nprogress bars appear only when stderr is a terminal (not TERM=dumb).\n')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      // Commander's own errors (unknown or missing options) in the one error format of every command.
      outputError: (s, write) => write(`layercache: error USAGE: ${s.replace(/^error: /, '')}`),
    });

  /** serving: the command will serve (LAYERCACHE_TOKEN is read, and checked, only then). */
  const configure = (serving = false): Config => {
    const g = program.opts<GlobalOptions>();
    config = loadConfig({ verbose: g.verbose ?? false, ...(g.threads !== undefined ? { engine: { intraOpThreads: g.threads } } : {}) }, env, { serving });
    return config;
  };

  program
    .command('inspect')
    .description('List the candidate exits of an ONNX model: cut points, shapes and cumulative MACs.')
    .argument('<model>', 'path to an .onnx model', (v: string) => parsePathArgument(v, 'MODEL', 'layercache inspect model.onnx'))
    .option('--all', 'list every cut point instead of one exit per block', false)
    .option('--json', 'print JSON (the CLI contract) instead of a table', false)
    .addOption(shapeOption())
    .addHelpText('after', '\nExamples:\n  layercache inspect model.onnx\n  layercache inspect model.onnx --all --json\n')
    .action(async (model: string, opts: { all: boolean; json: boolean; inputShape?: Record<string, number[]> }) => {
      await runInspect(model, opts, configure(), io);
    });

  program
    .command('split')
    .description('Cut an ONNX model into segments at the given tensors and write them with segments.json.')
    .argument('<model>', 'path to an .onnx model', (v: string) => parsePathArgument(v, 'MODEL', 'layercache split model.onnx'))
    .requiredOption('--at <names>', 'comma-separated cut tensors (see `layercache inspect`)')
    .requiredOption('--out <dir>', 'output directory (created atomically)', (v) => parsePath(v, '--out', 'segments/'))
    .option('--force', 'replace --out if it holds an earlier split (segments.json)', false)
    .option('--json', 'print segments.json, with the output directory as "out", to stdout', false)
    .addOption(shapeOption())
    .addHelpText('after', '\nExample:\n  layercache split model.onnx --at /layer1/layer1.2/Relu_1_output_0,/layer2/layer2.2/Relu_1_output_0 --out segments/\n')
    .action(async (model: string, opts: { at: string; out: string; force: boolean; json: boolean; inputShape?: Record<string, number[]> }) => {
      await runSplit(model, { ...opts, at: parseNameList(opts.at, '--at') }, configure(), io);
    });

  const build = program
    .command('build')
    .description('Build a bundle: train cache heads by self-distillation on unlabeled data, then pick exits and thresholds.')
    .argument('<model>', 'path to an .onnx classifier', (v: string) => parsePathArgument(v, 'MODEL', 'layercache build model.onnx …'))
    .requiredOption('--data <spec>', 'unlabeled samples: cifar10:PATH#A-B | folder:DIR#A-B | npy:PATH#A-B | raw:PATH:DxDxD#A-B | mnist:#A-B (ranges inclusive)')
    .requiredOption('--out <dir>', 'bundle directory to write (atomically)', (v) => parsePath(v, '--out', 'bundle/'))
    .option('--tolerance <t>', 'allowed disagreement with the backbone, in (0, 1)', (v) => parseFraction(v, '--tolerance', '0.01'), 0.01)
    .option('--confidence <delta>', 'statistical mode: disagreement <= tolerance with confidence 1 - delta', (v) => parseFraction(v, '--confidence', '0.05'))
    .option('--margin <m>', 'empirical mode: extra agreement demanded on calibration samples (default tolerance/5)', (v) => parseNumber(v, '--margin'))
    .option('--batch <n>', 'batch size whose latency is minimised', (v) => parsePositiveCount(v, '--batch'), 1)
    .option('--objective <what>', "minimise 'latency' (measured at --batch, checked on the runtime) or 'macs' per sample", (v) => parseChoice(v, '--objective', ['latency', 'macs'] as const), 'latency')
    .option('--score <kind>', 'confidence score: max | margin | temperature', (v) => parseChoice(v, '--score', ['max', 'margin', 'temperature'] as const), 'max')
    .option('--folds <k>', 'cross-fitting folds', (v) => parsePositiveCount(v, '--folds'), 3)
    .option('--cv-splits <n>', 'random splits into --cv-folds folds, averaged to judge each candidate policy', (v) => parsePositiveCount(v, '--cv-splits'), 5)
    .option('--cv-folds <k>', 'folds of each split: thresholds fitted on all but one, judged on that one (default: 5 for 5,000 samples or more, else 2)', (v) => parsePositiveCount(v, '--cv-folds'))
    .option('--augment <list>', "label-free augmented copies of the build samples, one per entry: flip, crop, random (mirror and crop at random); NAME:N repeats, e.g. flip,random:10 (natural images only)", (v) => parseAugmentList(v, '--augment'))
    .option('--epochs <n>', 'training epochs of the heads that can be kept', (v) => parsePositiveCount(v, '--epochs'), 36)
    .option('--refine-exits <n>', 'with more candidate exits than this, screen them all briefly and train only the n most promising fully', (v) => parsePositiveCount(v, '--refine-exits'), 16)
    .option('--screen-epochs <n>', 'training epochs of the screening phase', (v) => parsePositiveCount(v, '--screen-epochs'), 6)
    .option('--seed <n>', 'random seed', (v) => parseCount(v, '--seed'), 1)
    .option('--distill-temperature <t>', 'distillation temperature T of the KL loss', (v) => parseNumber(v, '--distill-temperature'), 4)
    .option('--latency-profile <file>', 'reuse latencies measured before on this machine from this file (same backbone, batch and threads), and save this build\'s there; builds sharing it choose alike', (v) => parsePath(v, '--latency-profile', 'latency-profile.json'))
    .option('--scores-output <name>', 'the model output holding the class scores (default: the first)')
    .option('--image-size <HxW>', 'folder: data for a model that leaves its input size open: resize images to this, which the bundle then fixes', (v) => parseImageSize(v, '--image-size'))
    .option('--force', 'replace --out if it holds an earlier bundle (manifest.json)', false)
    .option('--json', 'print the build report as JSON', false);
  addPreprocessOptions(build)
    .addHelpText('after', '\nExample:\n  layercache build resnet56.onnx --data cifar10:cifar10_test_jpeg.bin#0-4999 --out bundle/ \\\n    --scale 255 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225\n')
    .action(async (model: string, o: Record<string, unknown>) => {
      config = loadConfig({
        verbose: program.opts<GlobalOptions>().verbose ?? false,
        ...(program.opts<GlobalOptions>().threads !== undefined ? { engine: { intraOpThreads: program.opts<GlobalOptions>().threads } } : {}),
        build: {
          tolerance: o.tolerance as number, delta: (o.confidence as number | undefined) ?? null, margin: (o.margin as number | undefined) ?? null,
          batch: o.batch as number, objective: o.objective as 'latency', score: o.score as 'max', folds: o.folds as number, cvSplits: o.cvSplits as number, cvFolds: (o.cvFolds as number | undefined) ?? null, epochs: o.epochs as number, refineExits: o.refineExits as number, screenEpochs: o.screenEpochs as number, seed: o.seed as number,
          temperature: o.distillTemperature as number, latencyProfile: (o.latencyProfile as string | undefined) ?? null,
          scoresOutput: (o.scoresOutput as string | undefined) ?? null,
          ...(o.augment ? { augment: o.augment as ('flip' | 'crop' | 'random')[] } : {}),
        },
        preprocess: preprocessFrom(o),
      }, env, { serving: false });
      // Images with no preprocessing reach the model as 0–255 pixels; almost no image model was trained on that.
      if (isImageSpec(o.data as string) && normalisationGiven(o).length === 0) io.err(rawPixelsWarning('images', '; the bundle stores it'));
      // Tensors are fed as they are: the flags would do nothing, and the bundle records no preprocessing.
      if (!isImageSpec(o.data as string) && normalisationGiven(o).length > 0) {
        io.err(`layercache: warning: --scale, --mean and --std apply to images (cifar10:, folder:); '${o.data as string}' holds tensors, which reach the model as they are.\n`);
      }
      if (o.imageSize !== undefined && !(o.data as string).startsWith('folder:')) {
        throw new LayercacheError('USAGE', `--image-size applies to folder: data, which is resized to it; '${o.data as string}' has its own size: drop the flag`);
      }
      await runBuild(model, { data: o.data as string, out: o.out as string, force: o.force as boolean, json: o.json as boolean, ...(o.imageSize ? { imageSize: o.imageSize as [number, number] } : {}) }, config, io);
    });

  program
    .command('eval')
    .description('Measure the backbone and the bundle in the same run on the same inputs.')
    .argument('<bundle>', 'bundle directory (from layercache build)', (v: string) => parsePathArgument(v, 'BUNDLE', 'layercache eval bundle/ …'))
    .requiredOption('--data <spec>', 'samples to evaluate on: cifar10:PATH#A-B | folder:DIR#A-B | npy:PATH#A-B | raw:PATH:DxDxD#A-B | mnist:#A-B (ranges inclusive)')
    .option('--json', 'print the report as JSON', false)
    .option('--baseline <name>', "also run a baseline: 'paper' (every exit, one global max-softmax threshold)")
    .option('--model <file>', 'check that the bundle was built for this model', (v) => parsePath(v, '--model', 'model.onnx'))
    .option('--latency-samples <n>', 'samples timed one by one at batch 1', (v) => parsePositiveCount(v, '--latency-samples'), 2000)
    .option('--timing-instances <n>', 'equivalent sessions of each side timed in rotation (averages per-session offsets); each holds its own memory, so 1 for large models', (v) => parsePositiveCount(v, '--timing-instances'), 3)
    .option('--html <file>', 'also write the HTML report (charts, per-exit figures, settings)', (v) => parsePath(v, '--html', 'report.html'))
    .option('--force', 'replace the --html file if it exists', false)
    .addHelpText('after', '\nExample:\n  layercache eval bundle/ --data cifar10:cifar10_test_jpeg.bin#5000-9999 --baseline paper --json\n  layercache eval bundle/ --data cifar10:cifar10_test_jpeg.bin#5000-9999 --html report.html\n')
    .action(async (dir: string, o: { data: string; json: boolean; baseline?: string; model?: string; latencySamples: number; timingInstances: number; html?: string; force: boolean }) => {
      await runEval(dir, o, configure(), io);
    });

  program
    .command('report')
    .description('Evaluate a bundle against its backbone on held-out data and write the self-contained HTML report.')
    .argument('<bundle>', 'bundle directory (from layercache build)', (v: string) => parsePathArgument(v, 'BUNDLE', 'layercache report bundle/ …'))
    .requiredOption('--data <spec>', 'samples to evaluate on (see eval)')
    .option('--out <file>', 'the HTML file to write (atomically)', (v) => parsePath(v, '--out', 'report.html'), 'report.html')
    .option('--latency-samples <n>', 'samples timed one by one at batch 1', (v) => parsePositiveCount(v, '--latency-samples'), 2000)
    .option('--timing-instances <n>', 'equivalent sessions of each side timed in rotation (averages per-session offsets); each holds its own memory, so 1 for large models', (v) => parsePositiveCount(v, '--timing-instances'), 3)
    .option('--json', 'print the evaluation as JSON (as eval --json) plus "report"', false)
    .option('--force', 'replace --out if it exists', false)
    .addHelpText('after', '\nExample:\n  layercache report bundle/ --data cifar10:cifar10_test_jpeg.bin#5000-9999 --out report.html\n')
    .action(async (dir: string, o: { data: string; out: string; latencySamples: number; timingInstances: number; json: boolean; force: boolean }) => {
      await runEval(dir, { data: o.data, json: o.json, latencySamples: o.latencySamples, timingInstances: o.timingInstances, html: o.out, force: o.force, htmlFlag: '--out' }, configure(), io);
    });

  program
    .command('demo')
    .description('The whole job on built-in data: train a deep MLP on the mnist package\'s digits, build a bundle, evaluate both on unseen digits, write an HTML report.')
    .option('--out <dir>', 'where the backbone, bundle and report go', (v) => parsePath(v, '--out', 'layercache-demo'), 'layercache-demo')
    .option('--json', 'print the evaluation as JSON (as eval --json) plus "report"', false)
    .option('--serve', 'then serve the bundle and print a ready-to-paste curl request', false)
    .option('--port <port>', 'port for --serve', (v) => parseNumber(v, '--port'), 8080)
    .option('--latency-samples <n>', 'samples timed one by one at batch 1', (v) => parsePositiveCount(v, '--latency-samples'), 2000)
    .addHelpText('after', '\nExamples:\n  npx layercache demo\n  npx layercache demo --json > demo.json\n  npx layercache demo --serve --port 8080\n')
    .action(async (o: { out: string; json: boolean; serve: boolean; port: number; latencySamples: number }, cmd: Command) => {
      if (!o.serve && cmd.getOptionValueSource('port') === 'cli') throw new LayercacheError('USAGE', `--port ${o.port} applies only with --serve; add --serve to serve the demo's bundle, or leave --port out`);
      await runDemoCommand(o, configure(o.serve), io);
    });

  const serve = program
    .command('serve')
    .description('Serve a bundle or a bare model over the KServe v2 REST protocol, learning cache heads from live traffic.')
    .argument('<source>', 'bundle directory (from layercache build) or MODEL.onnx (starts with no exits)', (v: string) => parsePathArgument(v, 'SOURCE', 'layercache serve bundle/'))
    .option('--name <name>', 'model name in the URLs', 'layercache')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', (v) => parseNumber(v, '--port'), 8080)
    .option('--state <dir>', 'directory of persisted bundle versions; a restart resumes from the newest valid one (default: a temporary directory, removed at exit)', (v) => parsePath(v, '--state', 'state/'))
    .option('--workers <n>', 'engine worker threads', (v) => parsePositiveCount(v, '--workers'), 1)
    .option('--max-batch-size <n>', 'dynamic batching: rows per batch', (v) => parsePositiveCount(v, '--max-batch-size'), 32)
    .option('--max-queue-delay-us <us>', 'dynamic batching: longest wait for a batch to fill', (v) => parseNumber(v, '--max-queue-delay-us'), 0)
    .option('--max-queue-rows <n>', 'queued rows before requests get 503', (v) => parsePositiveCount(v, '--max-queue-rows'), 512)
    .option('--max-request-rows <n>', 'rows one request may carry', (v) => parsePositiveCount(v, '--max-request-rows'), 256)
    .option('--timeout-ms <ms>', 'per-request timeout', (v) => parsePositiveCount(v, '--timeout-ms'), 30000)
    .option('--body-limit <bytes>', 'largest request body', (v) => parsePositiveCount(v, '--body-limit'), 64 * 2 ** 20)
    .option('--labels <file>', 'class names for the classify route, one per line', (v) => parsePath(v, '--labels', 'labels.txt'))
    .option('--allowed-host <names>', 'host names answered besides localhost while --host is loopback and no token is set (the names a reverse proxy on this machine forwards); comma-separated, or the flag repeated', (v: string, prev?: string[]) => [...(prev ?? []), ...parseNameList(v, '--allowed-host', 'hosts', 'api.example.com')])
    .option('--token <token>', 'bearer token every route but health and metrics requires (16+ characters; prefer the LAYERCACHE_TOKEN environment variable, since command lines are visible to other users)')
    .option('--no-online', 'do not learn from traffic (verification and the accuracy guard stay on)')
    .option('--retrain-after <n>', 'buffered samples before the first retrain', (v) => parsePositiveCount(v, '--retrain-after'), 2000)
    .option('--retrain-every <n>', 'new buffered samples between retrains', (v) => parsePositiveCount(v, '--retrain-every'), 2000)
    .option('--buffer-samples <n>', 'online buffer size (sliding window)', (v) => parsePositiveCount(v, '--buffer-samples'), 5000)
    .option('--buffer-bytes <bytes>', 'most memory the online buffer may hold (it keeps fewer samples when they are large)', (v) => parsePositiveCount(v, '--buffer-bytes'), 512 * 2 ** 20)
    .option('--verify-share <p>', 'share of early answers checked against the full backbone (more of an exit answering under a tenth of the rows), and of requests learnt from once exits answer; 0 stops learning then', (v) => parseNumber(v, '--verify-share'), 0.05)
    .option('--tolerance <t>', "allowed disagreement with the backbone, in (0, 1), that the accuracy guard and retrains hold (default: a bundle's own, as built; 0.01 for a model)", (v) => parseFraction(v, '--tolerance', '0.01'))
    .option('--augment <list>', 'label-free augmented copies when retraining, e.g. flip or flip,random:4', (v) => parseAugmentList(v, '--augment'))
    .option('--latency-profile <file>', 'latency profile for retrains (see build --latency-profile; default STATE/latency-profile.json)', (v) => parsePath(v, '--latency-profile', 'latency-profile.json'))
    .option('--scores-output <name>', 'serving a model: its output holding the class scores (default: the first); a bundle records its own')
    .option('--log-level <level>', 'silent | error | warn | info | debug', (v) => parseChoice(v, '--log-level', ['silent', 'error', 'warn', 'info', 'debug'] as const), 'info');
  addPreprocessOptions(serve)
    .addHelpText('after', '\nExamples:\n  layercache serve bundle/ --port 8080\n  layercache serve resnet56.onnx --state state/ --augment flip \\\n    --scale 255 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225\n  curl -s localhost:8080/v2/models/layercache\n')
    .action(async (source: string, o: Record<string, unknown>) => {
      const g = program.opts<GlobalOptions>();
      // A bundle preprocesses as it was built (its manifest); flags that would do nothing are refused, as --scores-output is.
      const givenPreprocessing = [...normalisationGiven(o), ...(serve.getOptionValueSource('layout') === 'cli' ? ['layout'] : [])];
      const bundle = await hasManifest(source);
      if (givenPreprocessing.length > 0 && bundle) {
        throw new LayercacheError('USAGE', `${givenPreprocessing.map((k) => `--${k}`).join(', ')} ${givenPreprocessing.length > 1 ? 'apply' : 'applies'} when serving a model; bundle ${source} preprocesses inputs as recorded in its manifest.json, as built: drop the flag${givenPreprocessing.length > 1 ? 's' : ''}, or build a bundle with them`);
      }
      config = loadConfig({
        verbose: g.verbose ?? false,
        ...(g.threads !== undefined ? { engine: { intraOpThreads: g.threads } } : {}),
        build: { latencyProfile: (o.latencyProfile as string | undefined) ?? null, scoresOutput: (o.scoresOutput as string | undefined) ?? null, ...(o.augment ? { augment: o.augment as ('flip' | 'crop' | 'random')[] } : {}) },
        preprocess: preprocessFrom(o),
        serve: {
          tolerance: (o.tolerance as number | undefined) ?? null,
          name: o.name as string, host: o.host as string, allowedHosts: (o.allowedHost as string[] | undefined) ?? [], port: o.port as number, stateDir: (o.state as string | undefined) ?? null,
          workers: o.workers as number, maxBatchSize: o.maxBatchSize as number, maxQueueDelayUs: o.maxQueueDelayUs as number,
          maxQueueRows: o.maxQueueRows as number, maxRequestRows: o.maxRequestRows as number, requestTimeoutMs: o.timeoutMs as number,
          bodyLimitBytes: o.bodyLimit as number, log: o.logLevel as 'info',
          // Absent, not undefined: LAYERCACHE_TOKEN then applies.
          ...(o.token !== undefined ? { token: o.token as string } : {}),
          labels: o.labels !== undefined ? await readLabels(o.labels as string) : [],
          online: {
            enabled: o.online as boolean, retrainAfter: o.retrainAfter as number, retrainEvery: o.retrainEvery as number,
            bufferSamples: o.bufferSamples as number, bufferBytes: o.bufferBytes as number, verifyShare: o.verifyShare as number,
          },
        },
      }, env, { serving: true });
      await runServe(source, config, io, process, { warnRawPixels: !bundle && normalisationGiven(o).length === 0 });
    });

  // Every command but serve (which shuts down on signals itself) undoes its unfinished writes when interrupted.
  program.hook('preAction', (_root, command) => {
    if (command.name() !== 'serve') undoWritesOnInterrupt(io);
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (or the help/version text).
      return err.exitCode === 0 ? 0 : 2;
    }
    const e = inFlagTerms(asLayercacheError(err));
    io.err(describeError(e, config?.verbose ?? argv.includes('--verbose')));
    return e.exitCode;
  } finally {
    stopUndoOnInterrupt();
  }
}
