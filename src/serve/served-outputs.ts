/**
 * The outputs the server answers with, as v2 output tensors: per row the probabilities, the class, the exit that
 * answered (-1: the full backbone) and its confidence; the per-row exit, confidence and bundle version also ride in
 * each output's parameters.
 * Invariant: the outputs come in OUTPUTS' order and each holds one entry per row.
 */
import type { RowsResult } from './batcher.ts';
import type { OutputTensor, Parameters } from './protocol.ts';

/** The outputs a request may ask for, in the order they are answered. */
export const OUTPUTS = ['probabilities', 'class', 'exit', 'confidence'] as const;

/** Rows answered, as v2 output tensors. */
export function outputTensors(r: RowsResult, rows: number): OutputTensor[] {
  const K = r.classes;
  const cls = new BigInt64Array(rows);
  for (let i = 0; i < rows; i++) {
    let c = 0;
    for (let k = 1; k < K; k++) if (r.probs[i * K + k]! > r.probs[i * K + c]!) c = k;
    cls[i] = BigInt(c);
  }
  const perRow: Parameters = { exit: Array.from(r.exits).join(','), confidence: Array.from(r.confidence, (c) => c.toFixed(6)).join(','), bundle_version: r.version };
  return [
    { name: 'probabilities', datatype: 'FP32', shape: [rows, K], data: r.probs, parameters: perRow },
    { name: 'class', datatype: 'INT64', shape: [rows], data: cls, parameters: perRow },
    { name: 'exit', datatype: 'INT32', shape: [rows], data: r.exits, parameters: perRow },
    { name: 'confidence', datatype: 'FP32', shape: [rows], data: r.confidence, parameters: perRow },
  ];
}
