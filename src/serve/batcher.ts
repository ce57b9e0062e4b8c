/**
 * The dynamic batcher, after Triton's: requests wait in one FIFO queue; a batch is sent to
 * an idle engine as soon as it holds maxBatchSize rows or its oldest request has waited
 * maxQueueDelayUs. The queue is bounded in rows: a request that does not fit is refused
 * at once (QUEUE_FULL) rather than queued without bound (requests put back to run alone
 * after a failed batch may take it past the bound, by at most maxBatchSize rows per engine).
 * Invariants: requests are never split; a request larger than maxBatchSize runs alone;
 * every submitted request settles exactly once (result, engine error or timeout); a
 * request that times out while queued is removed and never computed; when onnxruntime fails a
 * batch of several requests, each runs again alone, so that one request's bad input (a token id
 * past the vocabulary, say) fails only that request. A request that fails alone runs alone once
 * more, once every batch-mate's run alone has ended (a failure of the moment, such as a lack of
 * memory, passes then). When it fails again and one of its batch-mates was answered on its own, it
 * fails as MODEL_INPUT_REFUSED (422: its input, not the server: the same engines ran the others).
 * Without that evidence (a request that was alone to begin with, or whose batch-mates all failed
 * too: a version that cannot run) it stays ENGINE_RUN_FAILED (500). Its answer waits until every
 * batch-mate has run alone or timed out; at its deadline, a request that failed a run alone gets
 * the error known by then, not a timeout.
 */
import { LayercacheError } from '../errors/index.ts';

/** What the engine returns for one batch, row-aligned. */
export interface BatchOutput {
  /** [rows, classes] class probabilities. */
  readonly probs: Float32Array;
  /** [rows] answering exit, −1 for the full backbone. */
  readonly exits: Int32Array;
  /** [rows] max class probability. */
  readonly confidence: Float32Array;
  readonly classes: number;
  /** Bundle version that answered. */
  readonly version: number;
  /**
   * Of the call, the ms the batch waited for an engine to be free (one verifying earlier batches' answers, say): queue
   * time, not compute. Absent: none.
   */
  readonly waitedMs?: number;
}

export interface RowsResult extends BatchOutput {
  readonly queueMs: number;
  readonly computeMs: number;
  /** Rows in the batch this request ran in. */
  readonly batchRows: number;
}

/** Runs one batch: input [rows, ...sample] and each row's verification draw; more: requests were still queued when it was sent. */
export type BatchExecutor = (input: Float32Array, rows: number, draws: Float64Array, more: boolean) => Promise<BatchOutput>;

export interface BatcherOptions {
  readonly maxBatchSize: number;
  readonly maxQueueDelayUs: number;
  readonly maxQueueRows: number;
  readonly requestTimeoutMs: number;
  /** Values per row. */
  readonly rowSize: number;
  /** Engines that may run batches at the same time. */
  readonly engines: number;
}

interface Job {
  readonly input: Float32Array;
  readonly rows: number;
  readonly draws: Float64Array;
  readonly enqueued: number;
  readonly resolve: (r: RowsResult) => void;
  readonly reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
  settled: boolean;
  /** Its batch failed in onnxruntime, so it runs in a batch of its own, with the batch's other requests in this group. */
  retry: RetryGroup | null;
  /** The error of its first run alone, when that failed in onnxruntime: it runs alone a second time. */
  firstError: LayercacheError | null;
  /** Its first run alone is in an engine (it goes on after the request's deadline). */
  inFirstRun: boolean;
  /** Its first run alone has ended (or its deadline passed before it started): counted off group.firstRuns. */
  firstEnded: boolean;
}

/** The requests of a batch onnxruntime failed, each run again alone. */
interface RetryGroup {
  /** Requests of the failed batch. */
  readonly size: number;
  /** Members whose first run alone has not ended. */
  firstRuns: number;
  /** Members whose first run alone failed, queued for a second once no first run is left. */
  readonly second: Job[];
  /** Members whose runs alone have not ended (answered, failed twice or timed out). */
  readonly running: Set<Job>;
  /** A member was answered alone: the engines run, so a member failing alone was refused for its input. */
  answered: boolean;
  /** Members that failed alone in onnxruntime, answered once no member runs. */
  readonly failed: { job: Job; error: LayercacheError }[];
}

export interface BatchEvent {
  readonly rows: number;
  readonly computeMs: number;
}

export class DynamicBatcher {
  private readonly queue: Job[] = [];
  private queuedRows = 0;
  private busy = 0;
  private wake: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private closed = false;
  /** Shutting down: queued requests go at once instead of waiting for their batch to fill. */
  private hurried = false;
  private idleWaiters: (() => void)[] = [];
  private inFlight = 0;

  constructor(
    private readonly options: BatcherOptions,
    private readonly execute: BatchExecutor,
    private readonly onBatch: (e: BatchEvent) => void = () => {},
  ) {}

  /** Rows waiting in the queue. */
  get pendingRows(): number {
    return this.queuedRows;
  }

  /** Why a request of `rows` rows (null: not known yet, at least one) would be refused now (closed, or the queue full), or null. */
  refusal(rows: number | null): LayercacheError | null {
    if (this.closed) return new LayercacheError('NOT_READY', 'the server is shutting down and takes no new requests; retry against another replica');
    if (this.queuedRows + (rows ?? 1) > this.options.maxQueueRows) {
      const adds = rows === null ? 'not one more row fits' : `this request adds ${rows}`;
      return new LayercacheError('QUEUE_FULL', `the inference queue holds ${this.queuedRows} rows and ${adds}, over the limit of ${this.options.maxQueueRows}; retry later with backoff`);
    }
    return null;
  }

  /** input: [rows, ...sample]. draws: [rows], each row's verification draw (verify-rule.ts). */
  submit(input: Float32Array, rows: number, draws: Float64Array): Promise<RowsResult> {
    const refused = this.refusal(rows);
    if (refused) return Promise.reject(refused);
    this.inFlight++;
    return new Promise<RowsResult>((resolve, reject) => {
      const job: Job = { input, rows, draws, enqueued: performance.now(), resolve, reject, timer: null, settled: false, retry: null, firstError: null, inFirstRun: false, firstEnded: false };
      job.timer = setTimeout(() => {
        const at = this.unqueue(job);
        const group = job.retry;
        if (group && job.firstError) return this.failedAtDeadline(group, job, job.firstError);
        this.settle(job, new LayercacheError('REQUEST_TIMEOUT', `the request did not finish within ${this.options.requestTimeoutMs} ms (${at >= 0 ? 'still queued' : 'running'}); the server is overloaded or the timeout (--timeout-ms) is too short`));
      }, this.options.requestTimeoutMs);
      this.queue.push(job);
      this.queuedRows += rows;
      this.pump();
    });
  }

  /** From now on queued requests run at once (no waiting up to maxQueueDelayUs); new ones are still taken. */
  hurry(): void {
    this.hurried = true;
    // A pending wake-up finds nothing to wait for; a timer is cleared so it holds no process open.
    if (this.wake && 'refresh' in this.wake) {
      clearTimeout(this.wake);
      this.wake = null;
    }
    this.pump();
  }

  /** Refuses new requests and resolves once every submitted request has settled. */
  drain(): Promise<void> {
    this.closed = true;
    this.pump();
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private settle(job: Job, result: RowsResult | Error): void {
    const group = job.retry;
    if (group?.running.has(job)) {
      const failed = result instanceof LayercacheError && result.code === 'ENGINE_RUN_FAILED';
      if (job.firstError === null) {
        // The end of its first run alone (or its deadline before it).
        if (failed && group.size > 1) {
          job.firstError = result;
          group.second.push(job);
        }
        // A deadline during the run: the run still goes on in its engine, and is counted off when it ends.
        if (!job.inFirstRun) this.endFirstRun(job);
        if (job.firstError !== null) return;
      }
      group.running.delete(job);
      if (failed) group.failed.push({ job, error: result });
      else if (!(result instanceof Error)) group.answered = true;
      if (group.running.size === 0) this.answerFailed(group);
      if (failed) return;
    }
    this.finish(job, result);
  }

  /** `job`'s first run alone has ended, or its deadline passed before it ran: after the group's last, its second runs go first in line. */
  private endFirstRun(job: Job): void {
    const group = job.retry!;
    if (job.firstEnded) return;
    job.firstEnded = true;
    group.firstRuns--;
    if (group.firstRuns === 0) {
      // Second runs, first in line, once no first run is left (another run beside them could be what failed).
      this.putFirst(group.second.splice(0));
      this.pump();
    }
  }

  /** Every member has ended: those that failed alone twice get their answers. */
  private answerFailed(group: RetryGroup): void {
    for (const f of group.failed) this.finish(f.job, group.answered ? refusedInput(f.error) : f.error);
  }

  /**
   * The deadline of a request that failed its first run alone: it gets the error known now, not a timeout (which a
   * client would retry): its input's fault only when it failed alone twice and a batch-mate was answered.
   */
  private failedAtDeadline(group: RetryGroup, job: Job, first: LayercacheError): void {
    const waiting = group.second.indexOf(job);
    if (waiting >= 0) group.second.splice(waiting, 1);
    const twice = group.failed.find((f) => f.job === job);
    if (group.running.delete(job) && group.running.size === 0) this.answerFailed(group);
    this.finish(job, twice && group.answered ? refusedInput(twice.error) : twice?.error ?? first);
  }

  /** Puts `jobs` first in line, in their order (they run again: their wait is over). */
  private putFirst(jobs: readonly Job[]): void {
    this.queue.unshift(...jobs);
    for (const j of jobs) this.queuedRows += j.rows;
  }

  /** Takes `job` out of the queue; returns where it was, or −1. */
  private unqueue(job: Job): number {
    const at = this.queue.indexOf(job);
    if (at >= 0) {
      this.queue.splice(at, 1);
      this.queuedRows -= job.rows;
    }
    return at;
  }

  private finish(job: Job, result: RowsResult | Error): void {
    if (job.settled) return;
    job.settled = true;
    if (job.timer) clearTimeout(job.timer);
    if (result instanceof Error) job.reject(result);
    else job.resolve(result);
    this.inFlight--;
    if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private pump(): void {
    while (this.busy < this.options.engines && this.queue.length > 0) {
      const waitedUs = (performance.now() - this.queue[0]!.enqueued) * 1000;
      // A request run again alone takes no batch-mates, so it waits for none.
      const full = this.queuedRows >= this.options.maxBatchSize || this.queue[0]!.retry !== null;
      if (!full && !this.closed && !this.hurried && waitedUs < this.options.maxQueueDelayUs) {
        if (!this.wake) {
          const again = (): void => {
            this.wake = null;
            this.pump();
          };
          // Timers have millisecond resolution: shorter waits re-check after each event-loop turn.
          const leftMs = (this.options.maxQueueDelayUs - waitedUs) / 1000;
          this.wake = leftMs >= 1 ? setTimeout(again, leftMs) : setImmediate(again);
        }
        return;
      }
      this.dispatch(this.take());
    }
  }

  private take(): Job[] {
    const jobs: Job[] = [this.queue.shift()!];
    let rows = jobs[0]!.rows;
    while (jobs[0]!.retry === null && this.queue.length > 0 && this.queue[0]!.retry === null && rows + this.queue[0]!.rows <= this.options.maxBatchSize) {
      const j = this.queue.shift()!;
      jobs.push(j);
      rows += j.rows;
    }
    this.queuedRows -= rows;
    return jobs;
  }

  private dispatch(jobs: Job[]): void {
    const rows = jobs.reduce((a, j) => a + j.rows, 0);
    const size = this.options.rowSize;
    let input: Float32Array;
    let draws: Float64Array;
    if (jobs.length === 1) {
      input = jobs[0]!.input;
      draws = jobs[0]!.draws;
    } else {
      input = new Float32Array(rows * size);
      draws = new Float64Array(rows);
      let r = 0;
      for (const j of jobs) {
        input.set(j.input, r * size);
        draws.set(j.draws, r);
        r += j.rows;
      }
    }
    const first = jobs.length === 1 && jobs[0]!.retry !== null && jobs[0]!.firstError === null ? jobs[0]! : null;
    if (first) first.inFirstRun = true;
    const ended = (): void => {
      if (!first) return;
      first.inFirstRun = false;
      if (first.settled) this.endFirstRun(first);
    };
    const started = performance.now();
    this.busy++;
    this.execute(input, rows, draws, this.queue.length > 0).then((out) => {
      const callMs = performance.now() - started;
      const computeMs = callMs - Math.min(callMs, out.waitedMs ?? 0);
      ended();
      this.onBatch({ rows, computeMs });
      let r = 0;
      for (const j of jobs) {
        const K = out.classes;
        this.settle(j, {
          probs: out.probs.slice(r * K, (r + j.rows) * K),
          exits: out.exits.slice(r, r + j.rows),
          confidence: out.confidence.slice(r, r + j.rows),
          classes: K,
          version: out.version,
          queueMs: started - j.enqueued + (callMs - computeMs),
          computeMs,
          batchRows: rows,
        });
        r += j.rows;
      }
    }, (err: unknown) => {
      const e = err instanceof Error ? err : new LayercacheError('WORKER_FAILED', String(err));
      ended();
      const waiting = jobs.filter((j) => !j.settled);
      // Also when only one is left (its batch-mates timed out while it ran): the failure may have been theirs.
      if (jobs.length > 1 && waiting.length > 0 && e instanceof LayercacheError && e.code === 'ENGINE_RUN_FAILED') {
        // Each again on its own, first in line (their wait is over): only the request that fails alone fails.
        const group: RetryGroup = { size: waiting.length, firstRuns: waiting.length, second: [], running: new Set(waiting), answered: false, failed: [] };
        for (const j of waiting) j.retry = group;
        this.putFirst(waiting);
        return;
      }
      for (const j of jobs) this.settle(j, e);
    }).finally(() => {
      this.busy--;
      this.pump();
    });
  }
}

/** `e`, of a request that failed alone while a batch-mate run alone was answered, as its input's fault. */
function refusedInput(e: LayercacheError): LayercacheError {
  return new LayercacheError('MODEL_INPUT_REFUSED', `the model cannot run on this request's input, though it ran the requests batched with it: ${e.message}; check that the input holds values the model takes (token ids within its vocabulary, say)`, { cause: e });
}
