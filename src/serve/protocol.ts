/**
 * The Open Inference Protocol v2 (KServe v2) REST codec: inference requests in JSON or
 * with the binary tensor extension (and Triton's raw binary request), and responses in kind.
 * Invariants: a parsed request's input data is a float32 array whose length is the
 * product of its shape; anything else is an INFER_REQUEST_INVALID error that names the
 * field; binary tensors are little-endian and appear in the order of their inputs.
 */
import { LayercacheError } from '../errors/index.ts';
import { numel } from '../tensor/index.ts';
import { checkFinite, checkRange, describe, invalid, MAX_RANK, NUMERIC, readBinary, shapeOf, valuesOf, type Numeric } from './tensor-data.ts';

/** The v2 header that gives the JSON part's length when binary tensors follow it. */
export const HEADER_LENGTH = 'inference-header-content-length';

export type Parameters = Record<string, string | number | boolean>;

export interface InferInput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  /** Values converted to float32, row-major. */
  readonly data: Float32Array;
}

export interface RequestedOutput {
  readonly name: string;
  readonly binary: boolean;
}

export interface InferRequest {
  readonly id: string | undefined;
  readonly inputs: readonly InferInput[];
  /** Outputs asked for, or null for all (binary per `binaryOutputs`). */
  readonly outputs: readonly RequestedOutput[] | null;
  /** Request-level `binary_data_output`: every output in binary unless it says otherwise. */
  readonly binaryOutputs: boolean;
  readonly parameters: Parameters;
}

export interface OutputTensor {
  readonly name: string;
  readonly datatype: 'FP32' | 'INT32' | 'INT64';
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array | BigInt64Array;
  readonly parameters?: Parameters;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parametersOf(v: unknown, where: string): Parameters {
  if (v === undefined) return {};
  if (!isObject(v)) throw invalid(`${where}.parameters must be an object of name → string, number or boolean`);
  for (const [k, x] of Object.entries(v)) {
    if (!['string', 'number', 'boolean'].includes(typeof x)) throw invalid(`${where}.parameters.${clip(k)} must be a string, number or boolean, got ${describe(x)}`);
  }
  return v as Parameters;
}

/**
 * Why a request's JSON did not parse, when its bytes say more: an Inference-Header-Content-Length that does not mark
 * where the JSON object ends; without that header, a body compressed (gzip's magic) without a Content-Encoding, or
 * binary (control bytes, which JSON text never holds); a byte-order mark; NaN or Infinity where the parser stopped.
 * problem: JSON.parse's message.
 */
function notJsonHint(body: Uint8Array, headerLength: number | null, problem: string): string {
  const json = headerLength === null ? body : body.subarray(0, headerLength);
  if (headerLength !== null) {
    // The header length is to blame when the JSON it marks does not end where a JSON object ends, or goes on past it.
    let last = json.length - 1;
    while (last >= 0 && (json[last] === 0x20 || json[last] === 0x0a || json[last] === 0x0d || json[last] === 0x09)) last--;
    if (json[last] !== 0x7d || /after JSON at position/.test(problem)) {
      return `; Inference-Header-Content-Length says the JSON header is the body's first ${headerLength} bytes: it must count exactly the JSON's bytes (in UTF-8), with the binary tensor data after them`;
    }
  } else {
    if (body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b) return '; the body looks gzip-compressed: send it with Content-Encoding: gzip';
    // The JSON header of a binary request is short: its first 64 KiB tell, and the scan stays cheap on a 64 MiB body.
    if (body.subarray(0, 65_536).some((b) => b < 0x09 || (b > 0x0d && b < 0x20))) return '; the body holds binary bytes: a request with binary tensors also needs the Inference-Header-Content-Length header';
  }
  if (json.length >= 3 && json[0] === 0xef && json[1] === 0xbb && json[2] === 0xbf) return '; the body starts with a UTF-8 byte-order mark, which JSON does not allow: send the JSON without it';
  // Python's json.dumps writes NaN and Infinity, which are not JSON: named when the parser stopped at one.
  if (/Unexpected token '[NI]'|No number after minus sign/.test(problem) && /[[:,]\s*-?(?:NaN|Infinity)\b/.test(Buffer.from(json.subarray(0, 65_536)).toString('latin1'))) {
    return '; JSON has no NaN or Infinity (Python\'s json.dumps writes them unless allow_nan=False): send finite numbers';
  }
  return '';
}

/** What the served model takes, checked against a request's JSON header before any tensor data is decoded. */
export interface ModelSpec {
  readonly inputName: string;
  /** Per-sample input dims (no batch). */
  readonly sampleDims: readonly number[];
  /** Rows one request may carry. */
  readonly maxRows: number;
  /** The outputs a request may ask for. */
  readonly outputs: readonly string[];
}

/** A client's string in a message: at most 64 characters, so that a huge name cannot make a huge answer or log line. */
export function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}

/** Refuses a request the model cannot answer (inputs, shape, rows, outputs), from its header alone. */
function checkAgainstModel(inputs: readonly { name: string; shape: readonly number[] }[], outputs: readonly RequestedOutput[] | null, spec: ModelSpec): void {
  if (inputs.length !== 1 || inputs[0]!.name !== spec.inputName) {
    const names = inputs.slice(0, 3).map((i) => `'${clip(i.name)}'`).join(', ') + (inputs.length > 3 ? ` and ${inputs.length - 3} more` : '');
    throw invalid(`the model takes one input named '${spec.inputName}', got ${names}`);
  }
  const { name, shape } = inputs[0]!;
  const want = spec.sampleDims;
  if (shape.length !== want.length + 1 || shape.slice(1).some((d, i) => d !== want[i])) {
    throw invalid(`input '${name}' has shape [${shape.join(', ')}] but the model takes [batch, ${want.join(', ')}]`);
  }
  const rows = shape[0]!;
  if (rows < 1 || rows > spec.maxRows) {
    throw invalid(`input '${name}' has ${rows} rows; send 1 to ${spec.maxRows} rows per request (--max-request-rows, at most --max-queue-rows)`);
  }
  for (const o of outputs ?? []) {
    if (!spec.outputs.includes(o.name)) throw invalid(`output '${clip(o.name)}' does not exist; the outputs are ${spec.outputs.join(', ')}`);
  }
}

/**
 * Triton's raw binary request (Inference-Header-Content-Length: 0): the body is the model's one input and
 * nothing else, FP32 rows of the sample dims, as many as the body holds; every output is answered in JSON.
 */
function parseRawBinaryRequest(body: Uint8Array, spec: ModelSpec): InferRequest {
  const rowValues = spec.sampleDims.reduce((a, b) => a * b, 1);
  const rowBytes = rowValues * NUMERIC.FP32!.bytes;
  if (body.length === 0 || body.length % rowBytes !== 0) {
    throw invalid(`a raw binary request (${HEADER_LENGTH}: 0) is input '${spec.inputName}' alone, as FP32 rows of [${spec.sampleDims.join(', ')}] (${rowBytes} bytes each); its body has ${body.length} bytes, not a whole number of rows. Send whole rows, or a JSON header before the tensor bytes with its length in ${HEADER_LENGTH}`);
  }
  const rows = body.length / rowBytes;
  checkAgainstModel([{ name: spec.inputName, shape: [rows, ...spec.sampleDims] }], null, spec);
  const data = readBinary(body, 0, rows * rowValues, NUMERIC.FP32!);
  checkFinite(data, `input '${spec.inputName}'`);
  return { id: undefined, inputs: [{ name: spec.inputName, datatype: 'FP32', shape: [rows, ...spec.sampleDims], data }], outputs: null, binaryOutputs: false, parameters: {} };
}

/** Nesting of arrays and objects a request's JSON may have: its data nested as the shape, and a few levels around it. */
const MAX_JSON_DEPTH = 32;

/** Characters a request's id may have (it is echoed in the answer). */
const MAX_ID_LENGTH = 256;

/** Objects a request's JSON may hold: its inputs, outputs and their parameters. */
const MAX_JSON_OBJECTS = 1024;

/**
 * Arrays a request's JSON may hold: its data nested as the shape, up to `maxRows` rows of `sampleDims` (the arrays
 * above the innermost values), and some for shapes and lists. Without a model, any number.
 */
function maxJsonArrays(spec: ModelSpec | null): number {
  if (spec === null) return Number.POSITIVE_INFINITY;
  let arrays = 1;
  let rows = spec.maxRows;
  for (const d of spec.sampleDims) {
    arrays += rows;
    rows *= d;
  }
  return arrays + 1024;
}

/**
 * Most values (commas outside strings, bar a few) the JSON of a request may hold: the model's input at the row
 * limit, plus room for the other fields. 31 million zeros in 62 MB held the request parser 2–3 s for everyone.
 */
function maxJsonValues(spec: ModelSpec | null): number {
  if (spec === null) return Number.POSITIVE_INFINITY;
  return spec.maxRows * numel(spec.sampleDims) + 4096;
}

/**
 * Why the JSON value at the start of bytes [0, end) would cost more to parse than any request needs, or null:
 * nesting deeper than MAX_JSON_DEPTH, or more objects, arrays or values than a request holds (`[{},{},…]` in 40 MB
 * took the parser seconds and gigabytes). Brackets and commas in strings do not count; the scan stops where the
 * top-level value closes.
 */
function jsonCostProblem(bytes: Uint8Array, end: number, maxArrays: number, maxValues: number): string | null {
  let depth = 0;
  let objects = 0;
  let arrays = 0;
  let commas = 0;
  let inString = false;
  for (let i = 0; i < end; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === 0x5c) i++; // a backslash escapes the next byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x2c) {
      if (++commas > maxValues) return `holds more than ${maxValues} values, more than the model's input needs at the row limit (--max-request-rows); send fewer rows per request`;
    } else if (b === 0x5b || b === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) return `nests deeper than ${MAX_JSON_DEPTH} levels; a request needs about ${MAX_RANK + 4} at most (data nested as a shape of up to ${MAX_RANK} dimensions)`;
      if (b === 0x7b && ++objects > MAX_JSON_OBJECTS) return `holds more than ${MAX_JSON_OBJECTS} objects; a request holds a few (its inputs, outputs and parameters)`;
      if (b === 0x5b && ++arrays > maxArrays) return `holds more than ${maxArrays} arrays, more than data nested as its shape needs at the row limit`;
    } else if (b === 0x5d || b === 0x7d) {
      // The top-level value closed: what follows is not JSON (binary bytes sent without the header length), and
      // JSON.parse's error, with its hint, is the one to give.
      if (--depth === 0) return null;
    }
  }
  return null;
}

/** An input as its JSON header describes it, before its data is read. */
interface InputHeader {
  readonly name: string;
  readonly shape: readonly number[];
  readonly count: number;
  readonly datatype: string;
  readonly kind: Numeric;
  readonly where: string;
  /** Bytes of binary data, or null when the values are in JSON `data`. */
  readonly binarySize: number | null;
  readonly raw: Record<string, unknown>;
}

/**
 * Parses a v2 inference request. `body` is the raw body; `headerLength` is the value of
 * Inference-Header-Content-Length (null when the body is JSON only; 0 for Triton's raw binary request, which needs
 * `spec`). With `spec`, the request is checked against the model from its JSON header, before any tensor data is
 * decoded: a request the model cannot answer costs its JSON parse, not an allocation of its declared tensors.
 */
export function parseInferRequest(body: Uint8Array, headerLength: number | null, spec: ModelSpec | null = null): InferRequest {
  if (headerLength !== null && (!Number.isInteger(headerLength) || headerLength < 0 || headerLength > body.length)) {
    throw invalid(`Inference-Header-Content-Length ${headerLength} is not an integer between 0 and the body length ${body.length}`);
  }
  if (headerLength === 0 && spec !== null) return parseRawBinaryRequest(body, spec);
  const jsonEnd = headerLength ?? body.length;
  // JSON.parse takes seconds over millions of nested brackets, which no request needs.
  const costly = jsonCostProblem(body, jsonEnd, maxJsonArrays(spec), maxJsonValues(spec));
  if (costly !== null) throw invalid(`the request's JSON ${costly}`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, jsonEnd).toString('utf8'));
  } catch (err) {
    throw new LayercacheError('INFER_REQUEST_INVALID', `the request's JSON header is not valid JSON (${(err as Error).message})${headerLength === 0 ? '' : notJsonHint(body, headerLength, (err as Error).message)}`, { cause: err });
  }
  if (!isObject(json)) throw invalid('the request body must be a JSON object with an "inputs" array');
  if (json.id !== undefined && typeof json.id !== 'string') throw invalid(`"id" must be a string, got ${describe(json.id)}`);
  // The id is echoed in the answer: a long one would make a long answer.
  if (typeof json.id === 'string' && json.id.length > MAX_ID_LENGTH) throw invalid(`"id" has ${json.id.length} characters; an id may have at most ${MAX_ID_LENGTH}`);
  if (!Array.isArray(json.inputs) || json.inputs.length === 0) throw invalid('"inputs" must be a non-empty array of tensors');
  const parameters = parametersOf(json.parameters, 'request');
  // The header first: every input's name, shape and type, and the outputs asked for.
  const headers: InputHeader[] = json.inputs.map((raw: unknown, i: number): InputHeader => {
    const where = `inputs[${i}]`;
    if (!isObject(raw)) throw invalid(`${where} must be an object with name, shape, datatype and data`);
    if (typeof raw.name !== 'string' || raw.name === '') throw invalid(`${where}.name must be a non-empty string`);
    const shape = shapeOf(raw.shape, where);
    const count = shape.reduce((a, b) => a * b, 1);
    const datatype = raw.datatype;
    if (typeof datatype !== 'string') throw invalid(`${where}.datatype must be a string such as "FP32"`);
    const kind = NUMERIC[datatype];
    if (!kind) throw invalid(`${where} ('${clip(raw.name)}') has datatype ${clip(datatype)}; this model takes numbers: send FP32 (or another numeric type: ${Object.keys(NUMERIC).join(', ')})`);
    const named = `${where} ('${clip(raw.name)}')`;
    const binarySize = parametersOf(raw.parameters, where).binary_data_size;
    if (binarySize === undefined) {
      if (raw.data === undefined) throw invalid(`${named} has no "data" and no binary_data_size parameter`);
      return { name: raw.name, shape, count, datatype, kind, where: named, binarySize: null, raw };
    }
    if (raw.data !== undefined) throw invalid(`${named} has both "data" and binary_data_size; send its values one way`);
    if (headerLength === null) throw invalid(`${where} has binary_data_size but the request has no Inference-Header-Content-Length header`);
    if (typeof binarySize !== 'number') throw invalid(`${named}: binary_data_size must be a number of bytes, got the ${typeof binarySize} ${describe(binarySize)}`);
    if (binarySize !== count * kind.bytes) {
      throw invalid(`${named}: binary_data_size ${binarySize} does not match shape [${shape.join(', ')}] of ${datatype} (${count * kind.bytes} bytes)`);
    }
    return { name: raw.name, shape, count, datatype, kind, where: named, binarySize, raw };
  });
  const outputs = outputsOf(json.outputs, parameters);
  if (spec !== null) checkAgainstModel(headers, outputs, spec);
  // Then the data. Allocated only once it is known to hold `count` values: a huge declared shape on a small body is a 400, not an allocation.
  let offset = jsonEnd;
  const inputs: InferInput[] = headers.map((h) => {
    let data: Float32Array;
    if (h.binarySize !== null) {
      if (offset + h.binarySize > body.length) throw invalid(`${h.where}: the body ends ${offset + h.binarySize - body.length} bytes before its binary data does`);
      data = readBinary(body, offset, h.count, h.kind);
      // Binary values are their type's by construction (float32 then rounds the widest integers, as it rounds JSON's),
      // except BOOL's bytes: any but 0 and 1 are refused. Checked on float32 values, INT32's 2^31 − 1 would read 2^31, outside.
      if (h.datatype === 'BOOL') checkRange(data, h.kind, h.datatype, h.where);
      offset += h.binarySize;
    } else {
      // Every value takes at least two bytes of JSON ("0,"): that bounds how many the text can hold.
      const values = valuesOf(h.raw.data, h.shape, h.datatype === 'BOOL', h.where, { most: Math.floor(jsonEnd / 2), textBytes: jsonEnd });
      // Checked before float32 rounds them: an integer beyond 2^24 would pass as its neighbour.
      checkRange(values, h.kind, h.datatype, h.where);
      data = Float32Array.from(h.kind.round ? values.map(h.kind.round) : values);
    }
    checkFinite(data, h.where);
    return { name: h.name, datatype: h.datatype, shape: h.shape, data };
  });
  if (offset !== body.length) throw invalid(`the body has ${body.length - offset} bytes after the last binary tensor; check binary_data_size and Inference-Header-Content-Length`);
  return { id: json.id as string | undefined, inputs, outputs, binaryOutputs: parameters.binary_data_output === true, parameters };
}

/** The outputs a request asks for (null: all), each in binary or JSON. */
function outputsOf(raw: unknown, parameters: Parameters): RequestedOutput[] | null {
  if (parameters.binary_data_output !== undefined && typeof parameters.binary_data_output !== 'boolean') {
    throw invalid(`parameters.binary_data_output must be true or false, got ${describe(parameters.binary_data_output)}`);
  }
  const binaryOutputs = parameters.binary_data_output === true;
  if (raw === undefined) return null;
  if (!Array.isArray(raw)) throw invalid('"outputs" must be an array of { name }');
  // An empty list requests no output in particular: every output is returned, as when "outputs" is absent (Triton's reading).
  if (raw.length === 0) return null;
  const seen = new Set<string>();
  return raw.map((o: unknown, i: number) => {
    if (!isObject(o) || typeof o.name !== 'string') throw invalid(`outputs[${i}] must be an object with a "name"`);
    if (seen.has(o.name)) throw invalid(`output '${clip(o.name)}' is requested twice; name each output once`);
    seen.add(o.name);
    const p = parametersOf(o.parameters, `outputs[${i}]`);
    if (p.binary_data !== undefined && typeof p.binary_data !== 'boolean') throw invalid(`outputs[${i}].parameters.binary_data must be true or false, got ${describe(p.binary_data)}`);
    // Answering it with plain probabilities would be a silent wrong answer to what the client asked.
    if (p.classification !== undefined) throw invalid(`outputs[${i}].parameters.classification asks for the classification extension, which this server does not offer; read the 'class' and 'probabilities' outputs, or POST an image to the classify route for top-k labels`);
    return { name: o.name, binary: p.binary_data === undefined ? binaryOutputs : p.binary_data };
  });
}

function jsonData(t: OutputTensor): number[] {
  return t.data instanceof BigInt64Array ? Array.from(t.data, Number) : Array.from(t.data);
}

/**
 * Encodes a v2 inference response. Outputs marked binary go after the JSON header; then
 * `headerLength` is set and the body is application/octet-stream.
 */
export function encodeInferResponse(
  head: { modelName: string; modelVersion: string; id: string | undefined; parameters: Parameters },
  outputs: readonly { tensor: OutputTensor; binary: boolean }[],
): { body: Buffer; headerLength: number | null } {
  const chunks: Buffer[] = [];
  const json = {
    model_name: head.modelName,
    model_version: head.modelVersion,
    ...(head.id !== undefined ? { id: head.id } : {}),
    parameters: head.parameters,
    outputs: outputs.map(({ tensor: t, binary }) => {
      const base = { name: t.name, datatype: t.datatype, shape: [...t.shape] };
      if (!binary) return { ...base, ...(t.parameters ? { parameters: t.parameters } : {}), data: jsonData(t) };
      const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      chunks.push(bytes);
      return { ...base, parameters: { ...t.parameters, binary_data_size: bytes.length } };
    }),
  };
  const header = Buffer.from(JSON.stringify(json), 'utf8');
  if (chunks.length === 0) return { body: header, headerLength: null };
  return { body: Buffer.concat([header, ...chunks]), headerLength: header.length };
}
