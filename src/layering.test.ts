/**
 * The house layering, checked: every folder of src/ has a layer, and a module imports
 * other folders only from lower layers (dependencies point one way:
 * cli → serve → cascade → {engine, heads, calibrate, bundle} → {onnx, tensor}, surgery → onnx).
 * A new folder fails this test until it is given a layer below.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const LAYERS: Record<string, number> = {
  errors: 0,
  config: 1, files: 1, tensor: 1, progress: 1,
  onnx: 2, data: 2,
  surgery: 3, engine: 3, heads: 3, calibrate: 3, bundle: 3,
  inspect: 4, train: 4, cascade: 4,
  builder: 5, evaluate: 5,
  serve: 6, report: 6,
  demo: 7,
  cli: 8,
};

const src = import.meta.dirname;

/** Every .ts source file (tests excluded) under dir, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return sources(p);
    return d.name.endsWith('.ts') && !d.name.endsWith('.test.ts') ? [p] : [];
  });
}

/** The src/ folder a path lies in, or null for src/'s own files and paths outside src/. */
function folderOf(file: string): string | null {
  const parts = path.relative(src, file).split(path.sep);
  return parts.length > 1 && parts[0] !== '..' ? parts[0]! : null;
}

/** Relative imports that cross folders and do not point to a lower layer, as readable lines. */
function upwardImports(files: readonly (readonly [file: string, text: string])[]): string[] {
  const out: string[] = [];
  for (const [file, text] of files) {
    const from = folderOf(file);
    if (from === null) continue;
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const to = folderOf(path.resolve(path.dirname(file), m[1]!));
      if (to === null || to === from) continue;
      if (!(LAYERS[from]! > LAYERS[to]!)) out.push(`${path.relative(src, file)}: ${from} (layer ${LAYERS[from]}) imports ${to} (layer ${LAYERS[to]})`);
    }
  }
  return out;
}

test('every folder of src/ has a layer', () => {
  const folders = readdirSync(src, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  assert.deepEqual(folders.filter((f) => !(f in LAYERS)), [], 'give each new folder a layer in LAYERS');
  assert.ok(folders.length >= 10, `found only ${folders.length} folders under ${src}`);
});

test('imports point down the layers only', () => {
  const files = sources(src).map((f) => [f, readFileSync(f, 'utf8')] as const);
  assert.ok(files.length > 50, `found only ${files.length} source files under ${src}`);
  assert.deepEqual(upwardImports(files), []);
});

test('an upward or sideways import is reported, a downward one is not', () => {
  const at = (rel: string): string => path.join(src, rel);
  assert.deepEqual(upwardImports([
    [at('engine/session.ts'), "import { runCascade } from '../cascade/index.ts';"],
    [at('heads/x.ts'), 'export { a } from "../calibrate/index.ts";'],
    [at('serve/nested/y.ts'), "import type { C } from '../../cascade/index.ts';\nimport { z } from './z.ts';"],
  ]), [
    'engine/session.ts: engine (layer 3) imports cascade (layer 4)',
    'heads/x.ts: heads (layer 3) imports calibrate (layer 3)',
  ]);
});
