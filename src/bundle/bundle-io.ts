/**
 * Save and load bundles: a directory with manifest.json, backbone.onnx, segments/ and
 * heads/. Invariants: a save is atomic (the directory appears complete or not at all);
 * a load validates the manifest schema, every file's presence and sha256, and parses
 * every model, so a loaded bundle is complete and uncorrupted.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { colourImageSizeOf, validatePreprocess } from '../data/index.ts';
import { LayercacheError, isRecord, requireArgument } from '../errors/index.ts';
import { notRegularFile, sha256, writeDirAtomic, writeFileAtomic, type OutputKind } from '../files/index.ts';
import { hasExternalData, parseModel, readValueInfo, requireModel, serializeModel, type ModelProto } from '../onnx/index.ts';
import { ManifestSchema, type Manifest } from './manifest.ts';

export const MANIFEST_FILE = 'manifest.json';

export interface BundleFiles {
  readonly backbone: Uint8Array;
  readonly segments: readonly ModelProto[];
  readonly heads: readonly ModelProto[];
  /** Heads of every candidate exit, in candidate order. */
  readonly candidateHeads: readonly ModelProto[];
}

export interface LoadedBundle extends BundleFiles {
  readonly dir: string;
  readonly manifest: Manifest;
  /**
   * sha256 of `dir`'s manifest.json as read. The manifest lists every file's sha256, so this names the directory's
   * whole content on disk: a later load of `dir` with another value read another bundle (rebuilt in place, say). A
   * bundle revised in memory (new thresholds over the same files) keeps it: it still names what `dir` holds, not
   * `manifest`.
   */
  readonly manifestSha256: string;
}

/** Paths of a bundle's files, relative to its directory. */
/** A bundle directory, as saveBundle writes it: what `--force` may replace. */
export const BUNDLE_OUTPUT: OutputKind = {
  what: 'a layercache bundle',
  marker: MANIFEST_FILE,
  recognise: (text) => /"format"\s*:\s*"layercache\.bundle\//.test(text),
  holds: [/^manifest\.json$/, /^backbone\.onnx$/, /^(segments|heads|candidates)$/, /^segments\/segment_\d+\.onnx$/, /^(heads|candidates)\/head_\d+\.onnx$/],
};

export function bundlePaths(exits: number, candidates: number): { segments: string[]; heads: string[]; candidates: string[]; backbone: string } {
  const count = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
  requireArgument('bundlePaths(exits, candidates)', 'exits', exits, count, 'the number of exits, e.g. manifest.exits.length');
  requireArgument('bundlePaths(exits, candidates)', 'candidates', candidates, count, 'the number of candidate exits, e.g. manifest.candidates.length');
  const pad = (i: number): string => String(i).padStart(Math.max(2, String(Math.max(exits, candidates)).length), '0');
  return {
    backbone: 'backbone.onnx',
    segments: Array.from({ length: exits + 1 }, (_, i) => `segments/segment_${pad(i)}.onnx`),
    heads: Array.from({ length: exits }, (_, i) => `heads/head_${pad(i)}.onnx`),
    candidates: Array.from({ length: candidates }, (_, i) => `candidates/head_${pad(i)}.onnx`),
  };
}

/** The files a bundle's manifest names, by path relative to its directory, with their sha256. */
function filesOf(m: Manifest): Map<string, string> {
  return new Map([
    [m.source.backbone.file, m.source.backbone.sha256],
    ...m.segments.map((x) => [x.file, x.sha256] as const),
    ...m.exits.map((x) => [x.head.file, x.head.sha256] as const),
    ...m.candidates.map((x) => [x.head.file, x.head.sha256] as const),
  ]);
}

export interface SaveBundleOptions {
  readonly overwrite?: boolean;
  /**
   * A saved bundle whose files the new one may share: a file of the same path and sha256 is hard-linked from it
   * instead of written (a revision that only changes thresholds then costs a manifest). Falls back to writing where
   * links cannot be made.
   */
  readonly linkFrom?: { readonly dir: string; readonly manifest: Manifest };
}

/**
 * Writes a bundle atomically. `manifest` must already reference the files by the names
 * of bundlePaths(); their sha256 fields are filled in here.
 */
export async function saveBundle(dir: string, manifest: Manifest, files: BundleFiles, options: SaveBundleOptions = {}): Promise<Manifest> {
  const call = 'saveBundle(dir, manifest, files, options)';
  requireArgument(call, 'dir', dir, 'path', "the bundle directory to write, e.g. 'bundle/'");
  requireArgument(call, 'manifest', manifest, (v) => isRecord(v) && isRecord(v.source) && ['segments', 'exits', 'candidates'].every((k) => Array.isArray(v[k])),
    "a build's manifest: (await buildCascade(…)).manifest");
  requireArgument(call, 'files', files, 'object', '{ backbone, segments, heads, candidateHeads } from the build: { backbone: modelBytes, segments: built.segments, heads: built.heads, candidateHeads: built.candidateHeads }');
  requireArgument(call, 'files.backbone', files.backbone, 'bytes', 'the bytes of the model the bundle was built from: (await loadModelFile(path)).bytes');
  for (const key of ['segments', 'heads', 'candidateHeads'] as const) {
    requireArgument(call, `files.${key}`, files[key], 'array', `the build's ${key}: built.${key}`);
    files[key].forEach((m, i) => requireModel(call, m, `files.${key}[${i}]`, `the build's ${key}: built.${key}`));
  }
  requireArgument(call, 'options', options, 'object', 'options such as { overwrite: true }, or nothing');
  // One model per entry the manifest describes, in its order: a missing one would be saved as garbage or not at all.
  for (const [key, entries] of [['segments', 'segments'], ['heads', 'exits'], ['candidateHeads', 'candidates']] as const) {
    requireArgument(call, `files.${key}`, files[key], (v) => (v as unknown[]).length === manifest[entries].length,
      `the ${manifest[entries].length} models of the manifest's ${entries}, in its order: built.${key} with built.manifest`);
  }
  // A bundle is self-contained: a backbone that keeps its weights in side files would be read from wherever it runs.
  if (hasExternalData(parseModel(files.backbone, 'backbone'))) {
    throw new LayercacheError('BUNDLE_INVALID', 'the backbone bytes keep their weights in external data files, which a bundle would not carry; pass the whole model: loadModelFile(path).bytes, which inlines them');
  }
  // From code, the bytes of another model than the manifest's source (its sha256) would make a bundle that mixes two.
  const backboneSha = sha256(files.backbone);
  if (backboneSha !== manifest.source.sha256) {
    throw new LayercacheError('BUNDLE_MODEL_MISMATCH', `the backbone bytes (sha256 ${backboneSha.slice(0, 12)}…) are not the model this bundle was built from (${manifest.source.file}, sha256 ${manifest.source.sha256.slice(0, 12)}…); pass the bytes of that model, as given to buildCascade`);
  }
  const paths = bundlePaths(manifest.exits.length, manifest.candidates.length);
  const segBytes = files.segments.map(serializeModel);
  const headBytes = files.heads.map(serializeModel);
  const candBytes = files.candidateHeads.map(serializeModel);
  const final: Manifest = {
    ...manifest,
    source: { ...manifest.source, backbone: { file: paths.backbone, sha256: backboneSha } },
    segments: manifest.segments.map((s, i) => ({ ...s, file: paths.segments[i]!, sha256: sha256(segBytes[i]!) })),
    exits: manifest.exits.map((e, i) => ({ ...e, head: { ...e.head, file: paths.heads[i]!, sha256: sha256(headBytes[i]!) } })),
    candidates: manifest.candidates.map((c, i) => ({ ...c, head: { ...c.head, file: paths.candidates[i]!, sha256: sha256(candBytes[i]!) } })),
  };
  const checked = ManifestSchema.safeParse(final);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new LayercacheError('BUNDLE_INVALID', `refusing to save an invalid manifest: ${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}; pass the manifest of a build (built.manifest or a loaded bundle's), changing only what its schema allows`, { cause: checked.error });
  }
  const shared = options.linkFrom ? filesOf(options.linkFrom.manifest) : new Map<string, string>();
  const wanted = filesOf(final);
  await writeDirAtomic(dir, async (tmp) => {
    const put = async (file: string, bytes: Uint8Array): Promise<void> => {
      const to = path.join(tmp, file);
      if (options.linkFrom && shared.get(file) === wanted.get(file)) {
        const from = path.join(options.linkFrom.dir, file);
        // Linked only when its bytes are what its manifest says (a damaged file is not carried into a new bundle);
        // another filesystem, or no hard links there: written instead.
        const there = await fs.readFile(from).catch(() => null);
        if (there && sha256(there) === wanted.get(file)) {
          await fs.mkdir(path.dirname(to), { recursive: true });
          if (await fs.link(from, to).then(() => true, () => false)) return;
        }
      }
      await writeFileAtomic(to, bytes);
    };
    await put(paths.backbone, files.backbone);
    for (const [i, b] of segBytes.entries()) await put(paths.segments[i]!, b);
    for (const [i, b] of headBytes.entries()) await put(paths.heads[i]!, b);
    for (const [i, b] of candBytes.entries()) await put(paths.candidates[i]!, b);
    await writeFileAtomic(path.join(tmp, MANIFEST_FILE), `${JSON.stringify(final, null, 2)}\n`);
  }, { overwrite: options.overwrite, kind: BUNDLE_OUTPUT });
  return final;
}

async function readChecked(dir: string, ref: { file: string; sha256: string }, what: string): Promise<Uint8Array> {
  const file = path.join(dir, ref.file);
  const kind = await notRegularFile(file);
  if (kind !== null) throw new LayercacheError('BUNDLE_INVALID', `bundle ${dir}: ${what} ${ref.file} is ${kind}, not a file; rebuild the bundle with 'layercache build'`);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.readFile(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new LayercacheError('FILE_UNREADABLE', `bundle ${dir}: ${what} ${ref.file} cannot be read (${code}); fix its permissions`, { cause: err });
    }
    throw new LayercacheError('BUNDLE_INVALID', `bundle ${dir} is missing ${what} ${ref.file}; rebuild the bundle with 'layercache build'`, { cause: err });
  }
  if (sha256(bytes) !== ref.sha256) {
    throw new LayercacheError('BUNDLE_INVALID', `bundle ${dir}: ${what} ${ref.file} is corrupted (sha256 mismatch); rebuild the bundle with 'layercache build'`);
  }
  return bytes;
}

/** Whether `dir` holds a bundle manifest (a file named MANIFEST_FILE); nothing is validated. */
export async function hasManifest(dir: string): Promise<boolean> {
  return (await fs.stat(path.join(dir, MANIFEST_FILE)).catch(() => null))?.isFile() ?? false;
}

/** Throws ARGUMENT_INVALID unless `value` looks like loadBundle's result. call, arg: the public call and its argument. */
export function requireLoadedBundle(call: string, arg: string, value: unknown): void {
  requireArgument(call, arg, value, (v) => isRecord(v) && typeof v.dir === 'string' && isRecord(v.manifest) && isRecord(v.manifest.source)
    && ['segments', 'exits', 'candidates'].every((k) => Array.isArray((v.manifest as Record<string, unknown>)[k]))
    && ['segments', 'heads', 'candidateHeads'].every((k) => Array.isArray(v[k])), "a loaded bundle: await loadBundle('bundle/')");
}

/** Loads and fully validates a bundle. */
export async function loadBundle(dir: string): Promise<LoadedBundle> {
  requireArgument('loadBundle(dir)', 'dir', dir, 'path', "the path of a bundle directory, e.g. loadBundle('bundle/')");
  const manifestPath = path.join(dir, MANIFEST_FILE);
  const kind = await notRegularFile(manifestPath);
  if (kind !== null) throw new LayercacheError('BUNDLE_INVALID', `bundle ${dir}: ${MANIFEST_FILE} is ${kind}, not a file; rebuild the bundle with 'layercache build'`);
  let raw: Buffer;
  try {
    raw = await fs.readFile(manifestPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new LayercacheError('FILE_UNREADABLE', `bundle ${dir}: ${MANIFEST_FILE} cannot be read (${code}); fix its permissions`, { cause: err });
    }
    const build = `build one with 'layercache build MODEL.onnx --data SPEC --out ${code === 'ENOTDIR' ? 'BUNDLE' : dir}'`;
    throw new LayercacheError('BUNDLE_NOT_FOUND', code === 'ENOENT'
      ? `no bundle at ${dir} (${MANIFEST_FILE} is missing); ${build}`
      : code === 'ENOTDIR'
        ? `${dir} is a file, not a bundle directory; pass the directory \`layercache build --out\` wrote, or ${build}`
        : `cannot read ${manifestPath}: ${(err as Error).message}`, { cause: err });
  }
  const text = raw.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new LayercacheError('BUNDLE_INVALID', `${manifestPath} is not valid JSON (${(err as Error).message}); the bundle is corrupted — rebuild it`, { cause: err });
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new LayercacheError('BUNDLE_INVALID', `${manifestPath}: ${issue.path.join('.') || 'manifest'} ${issue.message}; the bundle is corrupted or from another version — rebuild it`, { cause: parsed.error });
  }
  const manifest = parsed.data;
  const backbone = await readChecked(dir, manifest.source.backbone, 'backbone');
  /** A listed ONNX file, parsed; one that does not parse is the bundle's fault (BUNDLE_INVALID), not the user's model's. */
  const model = async (ref: { file: string; sha256: string }, what: string): Promise<ModelProto> => {
    const bytes = await readChecked(dir, ref, what);
    try {
      return parseModel(bytes, path.join(dir, ref.file));
    } catch (err) {
      throw new LayercacheError('BUNDLE_INVALID', `bundle ${dir}: ${what} ${ref.file} is not an ONNX model (${(err as Error).message}); rebuild the bundle with 'layercache build'`, { cause: err });
    }
  };
  const segments: ModelProto[] = [];
  for (const s of manifest.segments) segments.push(await model(s, 'segment'));
  /** A head, which answers [batch, classes]: a manifest whose class count disagrees would fail at every request. */
  const head = async (ref: { file: string; sha256: string }, what: string): Promise<ModelProto> => {
    const h = await model(ref, what);
    const out = h.graph?.output[0];
    const k = (out ? readValueInfo(out)?.shape : null)?.at(-1);
    if (typeof k === 'number' && k !== manifest.source.classes) {
      throw new LayercacheError('BUNDLE_INVALID', `bundle ${dir}: head ${ref.file} answers ${k} classes but the manifest says the model has ${manifest.source.classes}; the manifest was edited or the bundle is corrupted — rebuild it`);
    }
    return h;
  };
  const heads: ModelProto[] = [];
  for (const e of manifest.exits) heads.push(await head(e.head, 'head'));
  const candidateHeads: ModelProto[] = [];
  for (const c of manifest.candidates) candidateHeads.push(await head(c.head, 'candidate head'));
  // Preprocessing that does not fit the model's images is the manifest's fault, not a flag's (eval and serve take none).
  // Checked where the server checks it at start (grey or colour images), so a bundle it wrote always loads.
  const pre = manifest.preprocess;
  const size = pre ? colourImageSizeOf(manifest.source.inputs[0]?.shape, pre.layout) : undefined;
  if (pre && size) {
    try {
      validatePreprocess(pre, size.channels);
    } catch (err) {
      throw new LayercacheError('BUNDLE_INVALID', `bundle ${dir}: its manifest's ${(err as Error).message}; the manifest was edited or the bundle is corrupted — rebuild it`, { cause: err });
    }
  }
  return { dir, manifest, manifestSha256: sha256(raw), backbone, segments, heads, candidateHeads };
}
