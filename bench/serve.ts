/**
 * `npm run bench:serve`: the server under load, and online caching from a cold start.
 *   load    three `layercache serve` processes side by side: the bare backbone, the
 *           ResNet-56 1% bundle (built here from records 0–4999 if absent), and the same
 *           bundle with verification sampling off (with --control, a fourth: an identical copy of
 *           the bundle server), started afresh every round in that round's order and warmed by
 *           2 s of unmeasured load, driven by
 *           autocannon for --duration seconds each at every --concurrency, split into --rounds
 *           (default 6) short runs that alternate between the servers (the order reversed every
 *           other round and rotated every two, so each server runs at each place equally often
 *           over 6 rounds), with binary-tensor infer requests of held-out CIFAR-10 records
 *           5000–5511 (cycled). Online learning is off in all; verification sampling (5%)
 *           stays on, as in production. This shared VM's throughput drifts by ±15% from one
 *           10 s run to the next, so each server is compared with the backbone run beside it in
 *           the same round, and the median of those per-round ratios is reported with its range.
 *   online  `layercache serve cifar10_resnet56.onnx` with no heads streams records
 *           0–9999 in order, one request at a time. The server retrains after 5,000 requests;
 *           the stream pauses while the retrain runs (traffic slow next to a 2–3 minute
 *           retrain). Per 500-request window: hit rate, agreement with the backbone
 *           (onnxruntime run directly on the same records), MACs saved, mean latency. The
 *           offline reference (`layercache build` on records 0–4999 with the same settings,
 *           evaluated on 5000–9999) is built in the same run, before the server starts; it
 *           measures the latency profile in the server's state directory, which the server's
 *           retrain then reuses, so both choose exits on the same timings.
 *           Tolerance --online-tolerance (default 0.3%): the target is ≥ 99% agreement in *every*
 *           500-request window, i.e. at most 5 disagreements in each. With true disagreement d
 *           the chance that at least one of the ten windows has 6 or more is (binomial) 35% at
 *           d = 0.5% and 4.3% at d = 0.3%, so the bundle must hold 0.3% for the windows to hold.
 * Writes bench/results/serve.json and the serve section of BENCHMARKS.md.
 *   npm run bench:serve [-- --duration 60 --rounds 6 --concurrency 1,8,64 --workers 1 --threads 2 --online-tolerance 0.003 --skip-load --skip-online --control]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { hasFlag, numberFlag, numberListFlag } from './flags.ts';
import { writeFileAtomic } from '../src/files/index.ts';
import { headCommit } from './git-commit.ts';
import { buildCascade, withLatencyProfileFile } from '../src/builder/index.ts';
import { loadBundle, saveBundle, type Manifest } from '../src/bundle/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { openDataSource, type DataSource } from '../src/data/index.ts';
import { Session } from '../src/engine/index.ts';
import { evaluateBundle } from '../src/evaluate/index.ts';
import { loadModelFile } from '../src/onnx/index.ts';
import { SILENT } from '../src/progress/index.ts';
import { processCpu } from './cpu-time.ts';
import { renderServe } from './render-serve.ts';

const root = path.resolve(import.meta.dirname, '..');
const assets = process.env.LAYERCACHE_ASSETS ?? path.resolve(root, '../shared/assets');
const duration = numberFlag('duration', 60);
const concurrencies = numberListFlag('concurrency', '1,8,64');
const rounds = numberFlag('rounds', 6);
if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--rounds ${rounds} must be a whole number ≥ 1`);
const skipLoad = hasFlag('skip-load');
const skipOnline = hasFlag('skip-online');
const control = hasFlag('control');
/** Seconds of unmeasured load a freshly started server gets before its measured run. */
const WARMUP_S = 2;
const onlineTolerance = numberFlag('online-tolerance', 0.003);
// Engine workers and onnxruntime threads of the load servers (the online server keeps 1 × 2).
const loadWorkers = numberFlag('workers', 1);
const loadThreads = numberFlag('threads', 2);
const cifar = path.join(assets, 'cifar10_test_jpeg.bin');
if (!existsSync(cifar)) {
  console.log(`skipping: ${cifar} not found (set LAYERCACHE_ASSETS)`);
  process.exit(0);
}
const modelFile = path.join(assets, 'cifar10_resnet56.onnx');
const preprocess = { scale: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: 'nchw' as const };
const ppFlags = ['--scale', '255', '--mean', '0.485,0.456,0.406', '--std', '0.229,0.224,0.225'];
const SAMPLE = 3 * 32 * 32;

interface Server { child: ChildProcess; url: string }

/** Starts `layercache serve` on a free port and waits for its address. */
function startServe(args: string[], threads = 2): Promise<Server> {
  const child = spawn(process.execPath, [path.join(root, 'bin/layercache.js'), 'serve', ...args, '--port', '0', '--name', 'resnet56', '--log-level', 'warn'], { cwd: root, stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, LAYERCACHE_THREADS: String(threads) } });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving '.*' at (http:\/\/\S+)/.exec(err);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
}

async function stopServe(s: Server): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => s.child.once('exit', (code) => resolve(code)));
  s.child.kill('SIGTERM');
  return exited;
}

/**
 * Round `round`'s order of the servers: rotated by one place every two rounds, every other round reversed, so that
 * over 2 × (servers) rounds each server runs at each place equally often (reversal alone kept one server at the
 * ends and another in the middle). Balancing the places did not remove the 4–9 points between two identical
 * servers of one run, which belong to the process (BENCHMARKS.md, session 24).
 */
function orderOf<T>(labels: readonly T[], round: number): T[] {
  const turn = Math.floor(round / 2);
  const rotated = labels.map((_, i) => labels[(i + turn) % labels.length]!);
  return round % 2 === 0 ? rotated : rotated.reverse();
}

/** The median of `xs` (at least one value) and its range. */
function spread(xs: number[]): { median: number; min: number; max: number } {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return { median: v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2, min: v[0]!, max: v.at(-1)! };
}

/** A binary-extension infer request body for record i of `data`. */
function inferBody(data: DataSource, i: number): { body: Buffer; headerLength: number } {
  const x = data.batch(i, i + 1).data;
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, 32, 32], datatype: 'FP32', parameters: { binary_data_size: SAMPLE * 4 } }], outputs: [{ name: 'class' }, { name: 'exit' }] }));
  return { body: Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]), headerLength: header.length };
}

// Earlier results are kept for the part skipped (--skip-load / --skip-online).
const resultsFile = path.join(root, 'bench/results/serve.json');
const previous = existsSync(resultsFile) ? JSON.parse(await fs.readFile(resultsFile, 'utf8')) as Record<string, unknown> : {};
const commit = headCommit(root);
const results: Record<string, unknown> = { ...previous, machine: `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}`, date: new Date().toISOString(), commit };
const data = await openDataSource(`cifar10:${cifar}#0-9999`, preprocess);

if (!skipLoad) {
  const bundleDir = path.join(root, 'bench/results/bundles/resnet56-0.01');
  if (!existsSync(path.join(bundleDir, 'manifest.json'))) {
    console.log('building the ResNet-56 1% bundle from records 0–4999');
    const config = loadConfig({ engine: { intraOpThreads: 2 }, build: { tolerance: 0.01, augment: ['flip'] }, preprocess });
    const train = await openDataSource(`cifar10:${cifar}#0-4999`, preprocess);
    const { model, bytes } = await loadModelFile(modelFile);
    const r = await buildCascade({ modelFile, modelBytes: bytes, model, data: train, preprocess }, config.build, config.engine, SILENT);
    await saveBundle(bundleDir, r.manifest, { backbone: bytes, segments: r.segments, heads: r.heads, candidateHeads: r.candidateHeads }, { overwrite: true });
  }
  const bodies = Array.from({ length: 512 }, (_, k) => inferBody(data, 5000 + k));
  // The servers run side by side (idle sessions do not spin); each concurrency alternates short runs between them,
  // so drift and other load on the machine hit all alike. They are started afresh every round, in that round's
  // order: two identical servers started once measured 4–9 points apart (BENCHMARKS.md, session 24), a gap tied to
  // the process, which fresh processes in a rotated start order spread over every server.
  const serveArgs = {
    backbone: [modelFile, '--no-online', '--workers', String(loadWorkers), ...ppFlags],
    bundle: [bundleDir, '--no-online', '--workers', String(loadWorkers)],
    // The same bundle without verification sampling: what checking 5% of early answers costs.
    'bundle, no verification': [bundleDir, '--no-online', '--workers', String(loadWorkers), '--verify-share', '0'],
    // --control: an identical copy of the bundle server, whose ratio to the bundle shows the protocol's own spread.
    'bundle (identical copy)': [bundleDir, '--no-online', '--workers', String(loadWorkers)],
  };
  type Label = keyof typeof serveArgs;
  const labels = (Object.keys(serveArgs) as Label[]).filter((l) => control || l !== 'bundle (identical copy)');
  /** autocannon against `server` for `seconds` at `connections`, the request bodies cycled. */
  const drive = (server: Server, connections: number, seconds: number): Promise<autocannon.Result> => {
    let next = 0;
    return autocannon({
      url: `${server.url}/v2/models/resnet56/infer`, connections, duration: seconds, method: 'POST',
      requests: [{
        method: 'POST',
        setupRequest: (req: autocannon.Request) => {
          const b = bodies[next++ % bodies.length]!;
          return { ...req, body: b.body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(b.headerLength) } };
        },
      }],
    });
  };
  /** Every server started in `order`, each warmed by a short unmeasured run at `connections`. */
  const startAll = async (order: readonly Label[], connections: number): Promise<Record<Label, Server>> => {
    const started: Partial<Record<Label, Server>> = {};
    for (const label of order) started[label] = await startServe(serveArgs[label], loadThreads);
    for (const label of order) await drive(started[label]!, connections, WARMUP_S);
    return started as Record<Label, Server>;
  };
  const exitCodes = new Map<Label, (number | null)[]>(labels.map((l) => [l, []]));
  const load: Record<string, unknown>[] = [];
  for (const connections of concurrencies) {
    const acc = Object.fromEntries(labels.map((l) => [l, [] as autocannon.Result[]])) as Record<Label, autocannon.Result[]>;
    // CPU ms per server over its runs: the load generator (this process), the server's main thread, its other threads.
    const cpu = Object.fromEntries(labels.map((l) => [l, { loadGenerator: 0, serverMain: 0, serverOther: 0, wall: 0, measured: true }])) as Record<Label, { loadGenerator: number; serverMain: number; serverOther: number; wall: number; measured: boolean }>;
    // Per round and server: requests/s and inference CPU ms per request, for the paired ratios.
    const perRound = Object.fromEntries(labels.map((l) => [l, [] as { rps: number; inferenceCpuMs: number | null }[]])) as Record<Label, { rps: number; inferenceCpuMs: number | null }[]>;
    for (let round = 0; round < rounds; round++) {
      const order = orderOf(labels, round);
      const servers = await startAll(order, connections);
      for (const label of order) {
        const pid = servers[label].child.pid!;
        const gen0 = process.cpuUsage();
        const srv0 = processCpu(pid);
        const t0 = performance.now();
        acc[label].push(await drive(servers[label], connections, duration / rounds));
        const srv1 = processCpu(pid);
        const gen = process.cpuUsage(gen0);
        const c = cpu[label];
        const wallMs = performance.now() - t0;
        c.wall += wallMs;
        const served = acc[label].at(-1)!.requests.total;
        perRound[label].push({ rps: served / (wallMs / 1000), inferenceCpuMs: srv0 && srv1 && served > 0 ? ((srv1.totalMs - srv1.mainMs) - (srv0.totalMs - srv0.mainMs)) / served : null });
        c.loadGenerator += (gen.user + gen.system) / 1000;
        if (srv0 && srv1) {
          c.serverMain += srv1.mainMs - srv0.mainMs;
          c.serverOther += (srv1.totalMs - srv1.mainMs) - (srv0.totalMs - srv0.mainMs);
        } else c.measured = false;
      }
      for (const label of order) exitCodes.get(label)!.push(await stopServe(servers[label]));
    }
    for (const label of labels) {
      const rs = acc[label];
      const mean = (f: (r: autocannon.Result) => number): number => rs.reduce((a, r) => a + f(r), 0) / rs.length;
      const total = rs.reduce((a, r) => a + r.requests.total, 0);
      const row = {
        server: label, connections, requestsPerSecond: total / duration, p50Ms: mean((r) => r.latency.p50), p99Ms: mean((r) => r.latency.p99), meanMs: mean((r) => r.latency.average),
        total, errors: rs.reduce((a, r) => a + r.errors, 0), non2xx: rs.reduce((a, r) => a + r.non2xx, 0), timeouts: rs.reduce((a, r) => a + r.timeouts, 0),
        // CPU ms per request (null where /proc is absent), and the cores these three kept busy on average.
        cpu: cpu[label].measured && total > 0 ? {
          loadGeneratorMs: cpu[label].loadGenerator / total, serverMainMs: cpu[label].serverMain / total, serverOtherMs: cpu[label].serverOther / total,
          coresBusy: (cpu[label].loadGenerator + cpu[label].serverMain + cpu[label].serverOther) / cpu[label].wall,
        } : null,
      };
      // Against the backbone run in the same round: the median ratio and its range over rounds.
      const base = perRound.backbone;
      const paired = label === 'backbone' ? null : {
        requestsPerSecond: spread(perRound[label].map((r, k) => r.rps / base[k]!.rps)),
        inferenceCpuLess: perRound[label].every((r, k) => r.inferenceCpuMs && base[k]!.inferenceCpuMs)
          ? spread(perRound[label].map((r, k) => base[k]!.inferenceCpuMs! / r.inferenceCpuMs!)) : null,
      };
      Object.assign(row, { rounds: perRound[label], vsBackbone: paired });
      console.log(JSON.stringify(row));
      load.push(row);
    }
  }
  for (const [label, codes] of exitCodes) console.log(`${label}: SIGTERM → exit codes ${[...new Set(codes)].join(', ')}`);
  results.load = load;
  results.duration = duration;
  results.rounds = rounds;
  results.order = 'rotated';
  results.servers = 'restarted every round';
  results.loadEngine = { workers: loadWorkers, threads: loadThreads };
  results.loadRun = { commit, date: new Date().toISOString() };
}

if (!skipOnline) {
  // The backbone's own answers on records 0–9999, computed before the server starts.
  const session = await Session.create((await loadModelFile(modelFile)).bytes, 'backbone', { intraOpThreads: 2, graphOptimization: 'all' });
  const reference = new Int32Array(10_000);
  for (let s = 0; s < 10_000; s += 100) {
    const out = Object.values(await session.run({ input: data.batch(s, s + 100) }))[0]!.data as Float32Array;
    for (let r = 0; r < 100; r++) {
      let c = 0;
      for (let k = 1; k < 10; k++) if (out[r * 10 + k]! > out[r * 10 + c]!) c = k;
      reference[s + r] = c;
    }
  }
  await session.release();
  // The offline reference, built in this run with the settings the server's retrain uses.
  console.log('offline reference: layercache build on records 0–4999, evaluated on 5000–9999');
  // The server's retrains keep a latency profile in its state directory; the offline build
  // measures it there first, so both choose on the same timings (timings differ by a few
  // percent between processes, enough to flip a choice between near-equal bundles).
  const state = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-bench-state-'));
  const refConfig = loadConfig({ engine: { intraOpThreads: 2 }, build: { tolerance: onlineTolerance, augment: ['flip'], latencyProfile: path.join(state, 'latency-profile.json') }, preprocess });
  const source = await loadModelFile(modelFile);
  const ref = await withLatencyProfileFile(refConfig.build.latencyProfile, SILENT, async (latencyProfile) => buildCascade({
    modelFile, modelBytes: source.bytes, model: source.model, data: await openDataSource(`cifar10:${cifar}#0-4999`, preprocess), preprocess, latencyProfile,
  }, refConfig.build, refConfig.engine, SILENT));
  const refDir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-bench-ref-'));
  await saveBundle(path.join(refDir, 'b'), ref.manifest, { backbone: source.bytes, segments: ref.segments, heads: ref.heads, candidateHeads: ref.candidateHeads });
  const refEval = await evaluateBundle(await loadBundle(path.join(refDir, 'b')), await openDataSource(`cifar10:${cifar}#5000-9999`, preprocess), { engine: refConfig.engine, progress: SILENT, latencySamples: 200, paper: false });
  const offline = { exits: ref.manifest.exits.length, exitList: ref.manifest.exits.map((e) => e.candidate), thresholds: ref.manifest.exits.map((e) => e.threshold), hitRate: refEval.cached.exitRates.reduce((a, b) => a + b, 0), agreement: refEval.cached.agreement, macsSaved: 1 - refEval.cached.macsPerSample / refEval.backbone.macsPerSample };
  console.log(JSON.stringify({ offline }));
  await fs.rm(refDir, { recursive: true, force: true });
  const server = await startServe([modelFile, ...ppFlags, '--augment', 'flip', '--tolerance', String(onlineTolerance), '--retrain-after', '5000', '--retrain-every', '1000000', '--state', state]);
  const manifests = new Map<number, Manifest | null>();
  const manifestOf = async (v: number): Promise<Manifest | null> => {
    if (!manifests.has(v)) {
      const file = path.join(state, 'versions', `v${String(v).padStart(6, '0')}`, 'manifest.json');
      manifests.set(v, v === 0 ? null : JSON.parse(await fs.readFile(file, 'utf8')) as Manifest);
    }
    return manifests.get(v)!;
  };
  const totalMacs = 126_280_320;
  const windows: Record<string, unknown>[] = [];
  let w = { hits: 0, agree: 0, ms: 0, macs: 0, n: 0, versions: new Set<number>() };
  const retrains: { atRecord: number; seconds: number }[] = [];
  for (let i = 0; i < 10_000; i++) {
    const b = inferBody(data, i);
    const t0 = performance.now();
    const res = await fetch(`${server.url}/v2/models/resnet56/infer`, { method: 'POST', body: b.body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(b.headerLength) } });
    const j = await res.json() as { model_version: string; outputs: { data: number[] }[] };
    const ms = performance.now() - t0;
    const version = Number(j.model_version);
    const cls = j.outputs[0]!.data[0]!;
    const exit = j.outputs[1]!.data[0]!;
    const m = await manifestOf(version);
    const headMacs = (upTo: number): number => (m ? m.exits.slice(0, upTo + 1).reduce((a, e) => a + e.head.macs, 0) : 0);
    const macs = exit < 0 ? totalMacs + headMacs((m?.exits.length ?? 0) - 1) : m!.exits[exit]!.cumulativeMacs + headMacs(exit);
    w.hits += exit >= 0 ? 1 : 0;
    w.agree += cls === reference[i] ? 1 : 0;
    w.ms += ms;
    w.macs += macs;
    w.n++;
    w.versions.add(version);
    if (i + 1 === 5000) {
      // The retrain starts once the 5,000th sample is buffered; pause the stream until it is served.
      const t = performance.now();
      for (;;) {
        const st = await (await fetch(`${server.url}/v2/models/resnet56/cache`)).json() as { retraining: boolean; retrains: number };
        if (!st.retraining && st.retrains > 0) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      retrains.push({ atRecord: 5000, seconds: (performance.now() - t) / 1000 });
      console.log(`retrain served after ${retrains[0]!.seconds.toFixed(0)} s`);
    }
    if ((i + 1) % 500 === 0) {
      const row = { records: `${i - 499}–${i}`, versions: [...w.versions].join(','), hitRate: w.hits / w.n, agreement: w.agree / w.n, macsSaved: 1 - w.macs / w.n / totalMacs, meanMs: w.ms / w.n };
      console.log(JSON.stringify(row));
      windows.push(row);
      w = { hits: 0, agree: 0, ms: 0, macs: 0, n: 0, versions: new Set() };
    }
  }
  const st = await (await fetch(`${server.url}/v2/models/resnet56/cache`)).json();
  console.log(`SIGTERM → exit code ${await stopServe(server)}`);
  const served = await manifestOf(1);
  const checks = (served?.metrics.checks ?? []) as { reused?: boolean }[];
  const online = served && {
    exitList: served.exits.map((e) => e.candidate), thresholds: served.exits.map((e) => e.threshold),
    latencyReused: served.metrics.latencyReused ?? null, checksReused: checks.length > 0 && checks.every((c) => c.reused === true),
  };
  console.log(JSON.stringify({ online }));
  const late = windows.slice(10) as { hitRate: number; agreement: number; macsSaved: number; meanMs: number }[];
  const mean = (f: (r: (typeof late)[number]) => number): number => late.reduce((a, r) => a + f(r), 0) / late.length;
  results.online = { run: { commit, date: new Date().toISOString() }, tolerance: onlineTolerance, windows, retrains, finalStatus: st, offline, online, records5000to9999: { hitRate: mean((r) => r.hitRate), agreement: mean((r) => r.agreement), macsSaved: mean((r) => r.macsSaved), meanMs: mean((r) => r.meanMs), minWindowAgreement: Math.min(...late.map((r) => r.agreement)) } };
  await fs.rm(state, { recursive: true, force: true });
}

await writeFileAtomic(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
await renderServe();
console.log('wrote bench/results/serve.json and the serve section of BENCHMARKS.md');
