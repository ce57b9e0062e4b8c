/**
 * Writes a chain of segments to a directory with a `segments.json` index.
 * Invariant: the directory appears complete or not at all (atomic directory write).
 */
import path from 'node:path';
import { requireArgument } from '../errors/index.ts';
import { sha256, writeDirAtomic, writeFileAtomic, type OutputKind } from '../files/index.ts';
import { dtypeOfElemType, elemTypeName, readValueInfo, serializeModel, type Dim, type ValueInfoProto } from '../onnx/index.ts';
import type { Segment } from './segments.ts';

export interface BoundaryDescription {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly Dim[] | null;
}

export interface SegmentsIndex {
  readonly format: 'layercache.segments/1';
  readonly source: string;
  readonly sourceSha256: string;
  readonly cuts: readonly string[];
  readonly segments: readonly {
    readonly index: number;
    readonly file: string;
    readonly inputs: readonly BoundaryDescription[];
    readonly outputs: readonly BoundaryDescription[];
  }[];
}

function describe(v: ValueInfoProto): BoundaryDescription {
  const decl = readValueInfo(v);
  const dtype = decl ? (dtypeOfElemType(decl.elemType) ?? elemTypeName(decl.elemType)) : 'unknown';
  return { name: v.name, dtype, shape: decl?.shape ?? null };
}

/** A directory of segments, as writeSegments writes it: what `--force` may replace. */
const SEGMENTS_OUTPUT: OutputKind = {
  what: 'a layercache segments directory',
  marker: 'segments.json',
  recognise: (text) => /"format"\s*:\s*"layercache\.segments\//.test(text),
  holds: [/^segments\.json$/, /^segment_\d+\.onnx$/],
};

/** Writes segment_NN.onnx files and segments.json into `dir` atomically; returns the index. */
export async function writeSegments(
  dir: string,
  segments: readonly Segment[],
  source: { readonly path: string; readonly bytes: Uint8Array },
  options: { overwrite?: boolean } = {},
): Promise<SegmentsIndex> {
  const call = 'writeSegments(dir, segments, source, options)';
  requireArgument(call, 'dir', dir, 'path', "the directory to write, e.g. 'segments/'");
  requireArgument(call, 'segments', segments, (v) => Array.isArray(v) && v.length > 0, 'the segments from extractSegments(model, flow, cuts, typeOf)');
  segments.forEach((seg, i) => requireArgument(call, `segments[${i}]`, seg, (v) => typeof v === 'object' && v !== null && (v as { model?: { $typeName?: unknown } }).model?.$typeName === 'onnx.ModelProto',
    'a segment from extractSegments(model, flow, cuts, typeOf)'));
  requireArgument(call, 'source', source, (v) => typeof v === 'object' && v !== null && typeof (v as { path?: unknown }).path === 'string' && (v as { bytes?: unknown }).bytes instanceof Uint8Array,
    "the model cut: { path: 'model.onnx', bytes } (bytes from loadModelFile)");
  requireArgument(call, 'options', options, 'object', 'options such as { overwrite: true }, or nothing');
  const width = Math.max(2, String(segments.length - 1).length);
  const index: SegmentsIndex = {
    format: 'layercache.segments/1',
    source: source.path,
    sourceSha256: sha256(source.bytes),
    cuts: segments.slice(1).map((s) => s.inputs[0]!),
    segments: segments.map((s) => {
      const g = s.model.graph!;
      return {
        index: s.index,
        file: `segment_${String(s.index).padStart(width, '0')}.onnx`,
        inputs: g.input.filter((v) => s.inputs.includes(v.name)).map(describe),
        outputs: g.output.map(describe),
      };
    }),
  };
  await writeDirAtomic(dir, async (tmp) => {
    for (const [k, s] of segments.entries()) await writeFileAtomic(path.join(tmp, index.segments[k]!.file), serializeModel(s.model));
    await writeFileAtomic(path.join(tmp, 'segments.json'), `${JSON.stringify(index, null, 2)}\n`);
  }, { ...options, kind: SEGMENTS_OUTPUT });
  return index;
}
