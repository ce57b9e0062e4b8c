/**
 * Load, parse, serialise and save ONNX ModelProto with @bufbuild/protobuf (ONNX 1.20 schema).
 * Invariants: an unmodified model serialises to the exact bytes it was parsed from
 * (unknown fields are kept); saves are atomic; a model whose tensors live in external
 * data files is loaded by path with that data inlined, or refused naming the missing file.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fromBinary, toBinary, clone } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation, type ModelProto, type TensorProto, type GraphProto } from 'onnx-buf';
import { LayercacheError, requireArgument } from '../errors/index.ts';
import { notRegularFile, writeFileAtomic } from '../files/index.ts';

export type { ModelProto };

/** Parses ONNX bytes. `source` names the origin in error messages. */
export function parseModel(bytes: Uint8Array, source = 'model'): ModelProto {
  requireArgument('parseModel(bytes)', 'bytes', bytes, 'bytes', "an ONNX model's bytes, e.g. parseModel(readFileSync('model.onnx'))");
  if (bytes.length === 0) {
    throw new LayercacheError('ONNX_PARSE_FAILED', `${source} is empty (0 bytes); pass an .onnx model file`);
  }
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (err) {
    throw new LayercacheError(
      'ONNX_PARSE_FAILED',
      `${source} is not a valid ONNX file (${(err as Error).message}); it may be truncated or not ONNX at all — re-export or re-download it`,
      { cause: err },
    );
  }
  validateModel(model, source);
  return model;
}

function validateModel(model: ModelProto, source: string): void {
  const problems: string[] = [];
  if (model.irVersion <= 0n) problems.push('ir_version is missing');
  if (model.opsetImport.length === 0) problems.push('opset_import is empty');
  const g = model.graph;
  if (!g) problems.push('it has no graph');
  else {
    if (g.node.length === 0) problems.push('the graph has no nodes');
    if (g.output.length === 0) problems.push('the graph has no outputs');
  }
  if (problems.length > 0) {
    throw new LayercacheError(
      'ONNX_INVALID_MODEL',
      `${source} is not a usable ONNX model: ${problems.join(', ')}; the file may be truncated or not an ONNX model — re-export it`,
    );
  }
}

/**
 * Throws ARGUMENT_INVALID unless `model` is a parsed ModelProto (from parseModel, loadModel or loadModelFile).
 * call: the public call that was given it, as a user writes it; arg: the argument's name there.
 */
export function requireModel(call: string, model: unknown, arg = 'model', give = "a model from loadModel('model.onnx') or parseModel(bytes)"): void {
  requireArgument(call, arg, model, (v) => typeof v === 'object' && v !== null && (v as { $typeName?: unknown }).$typeName === 'onnx.ModelProto', give);
}

/** Serialises a model to ONNX bytes. */
export function serializeModel(model: ModelProto): Uint8Array {
  requireModel('serializeModel(model)', model);
  return toBinary(ModelProtoSchema, model);
}

/**
 * Whether `bytes` encode `model`. Compared in canonical form: a file's own bytes may order or pack its fields
 * otherwise than serializeModel writes them and still be the same model; bytes that are no model are not.
 */
export function encodesModel(bytes: Uint8Array, model: ModelProto): boolean {
  const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
  const canonical = serializeModel(model);
  if (same(canonical, bytes)) return true;
  try {
    return same(canonical, serializeModel(parseModel(bytes)));
  } catch {
    return false; // not a model at all
  }
}

/** Deep copy, so that surgery never mutates its input. */
export function cloneModel(model: ModelProto): ModelProto {
  return clone(ModelProtoSchema, model);
}

/** Reads a model from disk, inlining any external-data tensors found next to it. */
export async function loadModel(file: string): Promise<ModelProto> {
  requireArgument('loadModel(file)', 'file', file, 'path', "the path of an .onnx file, e.g. loadModel('model.onnx')");
  return (await loadModelFile(file)).model;
}

/**
 * Loads a model file and any external data files it names. `bytes` is the model as one self-contained file: the
 * file's own bytes, or, when it keeps weights in external files, the model with them inlined. Hash and store
 * `bytes`, never the file alone: a header without its weights is not the model.
 */
export async function loadModelFile(file: string): Promise<{ model: ModelProto; bytes: Uint8Array }> {
  requireArgument('loadModelFile(file)', 'file', file, 'path', "the path of an .onnx file, e.g. loadModelFile('model.onnx')");
  const bytes = await readModelFile(file);
  const model = parseModel(bytes, file);
  if (!hasExternalData(model)) return { model, bytes };
  await inlineExternalData(model, path.dirname(file), file);
  return { model, bytes: serializeModel(model) };
}

/** Reads raw model bytes with clear errors for missing or unreadable files. */
export async function readModelFile(file: string): Promise<Uint8Array> {
  requireArgument('readModelFile(file)', 'file', file, 'path', "the path of an .onnx file, e.g. readModelFile('model.onnx')");
  // A FIFO is read whole, as before: process substitution (`<(cat m.onnx)`) or /dev/stdin from a pipe.
  const kind = await notRegularFile(file, { fifo: true });
  if (kind !== null) {
    throw new LayercacheError('FILE_UNREADABLE', `${file} is ${kind}, not a model file; pass the .onnx model file${kind === 'a directory' ? ' inside it' : ''}`);
  }
  try {
    return new Uint8Array(await fs.readFile(file));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') {
      throw new LayercacheError('FILE_NOT_FOUND', `model file ${file} does not exist; check the path`, { cause: err });
    }
    throw new LayercacheError('FILE_UNREADABLE', `cannot read model file ${file}: ${e.message}`, { cause: err });
  }
}

/** Writes a model to disk atomically. */
export async function saveModel(model: ModelProto, file: string): Promise<void> {
  requireModel('saveModel(model, file)', model);
  requireArgument('saveModel(model, file)', 'file', file, 'path', "the path to write, e.g. saveModel(model, 'out.onnx')");
  await writeFileAtomic(file, serializeModel(model));
}

function* allTensors(graph: GraphProto): Generator<TensorProto> {
  yield* graph.initializer;
  for (const node of graph.node) {
    for (const attr of node.attribute) {
      if (attr.t) yield attr.t;
      yield* attr.tensors;
      if (attr.g) yield* allTensors(attr.g);
      for (const g of attr.graphs) yield* allTensors(g);
    }
  }
}

/** True if any tensor of the model keeps its data in an external file. */
export function hasExternalData(model: ModelProto): boolean {
  if (!model.graph) return false;
  for (const t of allTensors(model.graph)) {
    if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) return true;
  }
  return false;
}

async function inlineExternalData(model: ModelProto, baseDir: string, source: string): Promise<void> {
  const files = new Map<string, Uint8Array>();
  for (const t of allTensors(model.graph!)) {
    if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) continue;
    const entry = new Map(t.externalData.map((kv) => [kv.key, kv.value]));
    const location = entry.get('location');
    if (!location) {
      throw new LayercacheError('ONNX_EXTERNAL_DATA_MISSING', `${source}: tensor '${t.name}' is external but names no location; re-save the model with its data inline`);
    }
    const resolved = path.resolve(baseDir, location);
    if (path.relative(baseDir, resolved).startsWith('..')) {
      throw new LayercacheError('ONNX_EXTERNAL_DATA_MISSING', `${source}: tensor '${t.name}' points outside the model folder (${location}); move the data file next to the model`);
    }
    let data = files.get(resolved);
    if (!data) {
      const kind = await notRegularFile(resolved);
      if (kind !== null) {
        throw new LayercacheError('ONNX_EXTERNAL_DATA_MISSING', `${source}: tensor '${t.name}' keeps its weights in external file '${location}', which is ${kind}; put the data file next to the model`);
      }
      try {
        data = new Uint8Array(await fs.readFile(resolved));
      } catch (err) {
        throw new LayercacheError(
          'ONNX_EXTERNAL_DATA_MISSING',
          `${source}: tensor '${t.name}' keeps its weights in external file '${location}', which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); put that file next to the model`,
          { cause: err },
        );
      }
      files.set(resolved, data);
    }
    const offset = Number(entry.get('offset') ?? '0');
    const length = entry.has('length') ? Number(entry.get('length')) : data.length - offset;
    if (!(offset >= 0 && length >= 0 && offset + length <= data.length)) {
      throw new LayercacheError('ONNX_EXTERNAL_DATA_MISSING', `${source}: tensor '${t.name}' wants bytes ${offset}..${offset + length} of '${location}', which has only ${data.length}; the data file is truncated or belongs to another model`);
    }
    t.rawData = data.slice(offset, offset + length);
    t.externalData = [];
    t.dataLocation = TensorProto_DataLocation.DEFAULT;
  }
}
