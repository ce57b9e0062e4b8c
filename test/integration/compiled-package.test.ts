/**
 * The package as a user installs it: compiled by `npm run build`'s tsconfig into a
 * directory beside src/ (the depth of dist/), then used from plain Node, without tsx:
 *  - the entry point named by package.json's exports loads and its declarations type-check
 *    in a strict consumer (skipLibCheck off);
 *  - a server started from the compiled code answers an inference exactly as onnxruntime
 *    running the model directly does (the engine worker starts from its compiled file);
 *  - online learning retrains in the compiled retraining process and swaps a version in.
 * Needs no assets; it runs tsc, so it takes some seconds.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { promisify } from 'node:util';
import { Session } from '../../src/engine/index.ts';
import { saveModel, serializeModel } from '../../src/onnx/index.ts';
import { randomNormal, seededRng } from '../../src/tensor/index.ts';
import { residualNet } from '../support/models.ts';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = createRequire(import.meta.url)(path.join(root, 'package.json')) as {
  exports: { '.': { types: string; default: string } }; files: string[]; dependencies: Record<string, string>;
};
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
/** No child may hang the suite: each is killed after this, and each test has a limit too. */
const LIMIT_MS = 180_000;
let out: string;
/** A project outside the repository that has the package installed (inside it, 'layercache' would name the repository itself). */
let consumer: string;

/** Runs `script` (an ES module) in plain Node, without tsx, from directory `dir` (default: the compiled one). */
async function plainNode(script: string, dir = out): Promise<string> {
  const file = path.join(dir, `check-${Math.random().toString(36).slice(2)}.mjs`);
  await fs.writeFile(file, script);
  const r = await run(process.execPath, [file], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' }, maxBuffer: 1 << 24, timeout: LIMIT_MS });
  return r.stdout;
}

before(async () => {
  out = await fs.mkdtemp(path.join(root, '.dist-test-'));
  await run(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', out], { cwd: root, timeout: LIMIT_MS });
});

after(async () => {
  if (out) await fs.rm(out, { recursive: true, force: true });
  if (consumer) await fs.rm(consumer, { recursive: true, force: true });
});

describe('the compiled package', { timeout: 2 * LIMIT_MS }, () => {
  it('ships what package.json names, without tsx at run time', async () => {
    for (const key of ['types', 'default'] as const) {
      const rel = pkg.exports['.'][key];
      assert.match(rel, /^\.\/dist\//, `exports['.'].${key} points into dist/`);
      await fs.access(path.join(out, rel.slice('./dist/'.length)));
    }
    assert.ok(pkg.files.includes('dist/') && pkg.files.includes('bin/'), `files lists dist/ and bin/: ${pkg.files.join(', ')}`);
    assert.equal(pkg.dependencies.tsx, undefined, 'tsx is a development dependency only');
    const compiled = await fs.readdir(out, { recursive: true });
    assert.ok(!compiled.some((f) => f.endsWith('.test.js')), 'no tests compiled into the package');
  });

  it('loads by its package name from plain Node, its bin runs dist/, and its declarations type-check in a strict consumer', async () => {
    // The package as installed: package.json, bin/ and dist/ (here a link to the compiled directory), no src/.
    const pkgDir = path.join(out, 'pkg');
    await fs.mkdir(path.join(pkgDir, 'bin'), { recursive: true });
    await fs.copyFile(path.join(root, 'package.json'), path.join(pkgDir, 'package.json'));
    await fs.copyFile(path.join(root, 'bin/layercache.js'), path.join(pkgDir, 'bin/layercache.js'));
    await fs.symlink(out, path.join(pkgDir, 'dist'), 'dir');
    consumer = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-consumer-'));
    await fs.mkdir(path.join(consumer, 'node_modules'));
    await fs.symlink(pkgDir, path.join(consumer, 'node_modules/layercache'), 'dir');
    const version = await run(process.execPath, [path.join(pkgDir, 'bin/layercache.js'), '--version'], { env: { ...process.env, NODE_OPTIONS: '' }, timeout: LIMIT_MS });
    assert.equal(version.stdout.trim(), (createRequire(import.meta.url)(path.join(root, 'package.json')) as { version: string }).version);
    const names = (await plainNode(`const m = await import('layercache'); console.log(Object.keys(m).sort().join(','));`, consumer)).trim().split(',');
    for (const n of ['startServer', 'buildCascade', 'loadBundle', 'Cascade', 'loadConfig', 'LayercacheError', 'GraphBuilder']) assert.ok(names.includes(n), `${n} exported`);
    // CommonJS consumers require() it (Node ≥ 20.19 loads ES modules synchronously when none of their graph awaits at the top level).
    const cjs = path.join(consumer, 'check.cjs');
    await fs.writeFile(cjs, `const m = require('layercache'); console.log(Object.keys(m).sort().join(','));`);
    const required = await run(process.execPath, [cjs], { cwd: consumer, env: { ...process.env, NODE_OPTIONS: '' }, timeout: LIMIT_MS });
    assert.deepEqual(required.stdout.trim().split(','), names);
    await fs.writeFile(path.join(out, 'consumer.ts'), [
      `import { loadConfig, LayercacheError, type Config, type RunningServer } from './index.js';`,
      `const c: Config = loadConfig({ build: { tolerance: 0.02 } });`,
      `const t: number = c.build.tolerance;`,
      `const e = new LayercacheError('USAGE', 'x');`,
      `export const used: [number, string, RunningServer | null] = [t, e.code, null];`,
    ].join('\n'));
    await fs.writeFile(path.join(out, 'tsconfig.consumer.json'), JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [path.join(root, 'node_modules/@types')] },
      files: ['consumer.ts'],
    }));
    await run(process.execPath, [tsc, '-p', path.join(out, 'tsconfig.consumer.json')], { cwd: out, timeout: LIMIT_MS });
    // A consumer with a type error fails: the check above is not vacuous.
    await fs.appendFile(path.join(out, 'consumer.ts'), `\nexport const wrong: string = c.build.tolerance;\n`);
    await assert.rejects(run(process.execPath, [tsc, '-p', path.join(out, 'tsconfig.consumer.json')], { cwd: out }), (e: { stdout?: string }) => /consumer\.ts.*TS2322/.test(e.stdout ?? ''));
  });

  it('exports every type that its exported values and types name, so users can name them too', async () => {
    await fs.writeFile(path.join(out, 'surface-probe.ts'), "export * from './index.js';\n");
    const program = ts.createProgram([path.join(out, 'surface-probe.ts')], {
      module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, types: ['node'], typeRoots: [path.join(root, 'node_modules/@types')],
    });
    const checker = program.getTypeChecker();
    const probe = program.getSourceFile(path.join(out, 'surface-probe.ts'))!;
    const entry = checker.getSymbolAtLocation((probe.statements[0] as ts.ExportDeclaration).moduleSpecifier!)!;
    const real = (s: ts.Symbol): ts.Symbol => ((s.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(s) : s);
    const exported = checker.getExportsOfModule(entry);
    const named = new Set(exported.map(real));
    const ours = (s: ts.Symbol | undefined): boolean => !!s?.declarations?.some((d) => d.getSourceFile().fileName.startsWith(out + path.sep) && d.getSourceFile().isDeclarationFile);
    const NAMED_TYPE = ts.SymbolFlags.Interface | ts.SymbolFlags.Class | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Enum;
    const unnamed = new Map<string, string>();
    const seen = new Set<ts.Type>();
    const visitType = (t: ts.Type, via: string, depth: number): void => {
      if (depth > 8 || seen.has(t)) return;
      seen.add(t);
      for (const sym of [t.aliasSymbol, t.getSymbol()]) {
        if (sym && ours(sym) && (sym.flags & NAMED_TYPE) !== 0 && !named.has(sym) && !unnamed.has(sym.name)) unnamed.set(sym.name, via);
      }
      if (t.isUnionOrIntersection()) return t.types.forEach((u) => visitType(u, via, depth + 1));
      t.aliasTypeArguments?.forEach((a) => visitType(a, via, depth + 1));
      if ((t.flags & ts.TypeFlags.Object) === 0) return;
      if (((t as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) !== 0) checker.getTypeArguments(t as ts.TypeReference).forEach((a) => visitType(a, via, depth + 1));
      const sym = t.getSymbol();
      // Types of dependencies (fastify, onnx-buf, …) are theirs to export.
      if (sym && !ours(sym) && (sym.flags & (ts.SymbolFlags.TypeLiteral | ts.SymbolFlags.ObjectLiteral | ts.SymbolFlags.Function | ts.SymbolFlags.Method)) === 0) return;
      for (const p of checker.getPropertiesOfType(t)) {
        const d = p.valueDeclaration ?? p.declarations?.[0];
        if (!d || !ours(p) || ts.getCombinedModifierFlags(d as ts.Declaration) & ts.ModifierFlags.Private) continue;
        visitType(checker.getTypeOfSymbolAtLocation(p, d), `${via}.${p.name}`, depth + 1);
      }
      for (const sig of [...t.getCallSignatures(), ...t.getConstructSignatures()]) {
        sig.parameters.forEach((p) => visitType(checker.getTypeOfSymbolAtLocation(p, p.valueDeclaration!), `${via}(${p.name})`, depth + 1));
        visitType(sig.getReturnType(), `${via}()`, depth + 1);
      }
    };
    for (const e of exported) {
      const s = real(e);
      const decl = s.valueDeclaration ?? s.declarations![0]!;
      if ((s.flags & ts.SymbolFlags.Class) !== 0) visitType(checker.getDeclaredTypeOfSymbol(s), `${e.name}#`, 0);
      visitType((s.flags & ts.SymbolFlags.Value) !== 0 ? checker.getTypeOfSymbolAtLocation(s, decl) : checker.getDeclaredTypeOfSymbol(s), e.name, 0);
    }
    assert.ok(exported.length > 50, `the probe saw the entry point's ${exported.length} exports`);
    assert.deepEqual([...unnamed].map(([name, via]) => `${name} (named by ${via})`), []);
  });

  it('serves from compiled worker threads: the same answers as the model, and a retrain (a compiled child process) swapped in', async () => {
    const modelFile = path.join(out, 'tiny.onnx');
    await saveModel(residualNet().model, modelFile);
    const rows = 40;
    const x = randomNormal(seededRng(5), rows * 192);
    await fs.writeFile(path.join(out, 'x.bin'), x);
    const stdout = await plainNode(`
      import { readFileSync } from 'node:fs';
      import { loadConfig, startServer } from './index.js';
      const x = new Float32Array(readFileSync('x.bin').buffer.slice(0));
      const config = loadConfig({
        engine: { intraOpThreads: 1 },
        build: { folds: 2, epochs: 3, tolerance: 0.2, measureReps: 3 },
        serve: { name: 'tiny', log: 'silent', online: { retrainAfter: ${rows}, retrainEvery: 1000000 } },
      }, {});
      const server = await startServer('tiny.onnx', config);
      const probs = [];
      for (let i = 0; i < ${rows}; i++) {
        const res = await server.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: { inputs: [{ name: 'image', shape: [1, 3, 8, 8], datatype: 'FP32', data: Array.from(x.subarray(i * 192, (i + 1) * 192)) }] } });
        if (res.statusCode !== 200) throw new Error(res.body);
        probs.push(...res.json().outputs[0].data);
      }
      await server.online.idle();
      const status = server.online.status();
      await server.close();
      console.log(JSON.stringify({ probs, version: status.version, retrains: status.retrains }));
    `);
    const got = JSON.parse(stdout) as { probs: number[]; version: number; retrains: number };
    const s = await Session.create(serializeModel(residualNet().model), 'oracle', { intraOpThreads: 1, graphOptimization: 'all' });
    const z = (await s.run({ image: { dtype: 'float32', dims: [rows, 3, 8, 8], data: x } })).logits!.data as Float32Array;
    await s.release();
    assert.equal(got.probs.length, rows * 5);
    for (let r = 0; r < rows; r++) {
      const zr = Array.from(z.subarray(r * 5, r * 5 + 5));
      const m = Math.max(...zr);
      const sum = zr.reduce((a, v) => a + Math.exp(v - m), 0);
      zr.forEach((v, k) => assert.ok(Math.abs(got.probs[r * 5 + k]! - Math.exp(v - m) / sum) < 1e-5, `row ${r} class ${k}`));
    }
    assert.equal(got.retrains, 1, 'one retrain ran in the compiled retraining process');
    assert.ok(got.version >= 1, `a retrained version was swapped in (version ${got.version})`);
  });
});
