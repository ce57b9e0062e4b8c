/**
 * CPU time spent by a process, read from /proc (Linux only): all its threads together, and
 * its main thread alone. For the load benchmark, which splits each request's CPU between
 * the load generator, the server's main thread (HTTP, parsing, batching) and its other
 * threads (the engine worker and onnxruntime's). Elsewhere it returns null.
 * Invariant: times only grow; /proc's process total includes threads that have exited.
 */
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc reports CPU times in these ticks. */
const TICKS_PER_SECOND = 100;

/** utime + stime of a /proc stat line, in ms (fields 14 and 15, counted after the command name). */
function statCpuMs(file: string): number {
  const text = readFileSync(file, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

export interface ProcessCpu {
  /** Every thread of the process, ms. */
  readonly totalMs: number;
  /** Its main thread (the event loop), ms. */
  readonly mainMs: number;
}

/** CPU time of process `pid` so far, or null where /proc is absent or the process is gone. */
export function processCpu(pid: number): ProcessCpu | null {
  try {
    return { totalMs: statCpuMs(`/proc/${pid}/stat`), mainMs: statCpuMs(`/proc/${pid}/task/${pid}/stat`) };
  } catch {
    return null;
  }
}
