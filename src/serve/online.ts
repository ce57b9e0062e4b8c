/**
 * Online caching: learn heads from the traffic the server answers, check early answers
 * against the full backbone, and guard agreement.
 *   sampling  each row draws a number; an early answer whose draw is under its exit's verify
 *             share (verify-rule.ts: verifyShare, more for a new, raised or rare exit) has the
 *             full backbone run on it after its response was sent
 *   buffer    while the serving version has no exits every row ran the full backbone and
 *             is admitted; otherwise only rows drawn under verifyShare are, so the buffer stays a uniform
 *             sample of traffic (not biased towards the hard inputs that reach the end)
 *             a graceful shutdown saves it to STATE/buffer.bin, the next start restores it
 *   retrain   when retrain-schedule.ts says so, the whole builder runs on the buffer in a
 *             child process (retrain-run.ts); the result is saved as the next bundle version and hot-swapped
 *             in (or dropped, see retrain-verdict.ts)
 *   guard     when live agreement (from verified early answers) falls below 1 − tolerance,
 *             the exit losing most agreement has its threshold raised at once, and is
 *             disabled after guardMaxRaises raises; each action is a new bundle version
 * Invariants: at most one retrain and one guard action run at a time, and the guard may act
 * while a retrain runs; version numbers, saves and swaps happen one at a time, and the
 * serving version number only grows (a retrain that finishes after a guard action is saved
 * again under a newer number); a failed retrain (or a failed swap to its result) leaves the
 * serving version untouched; every action is logged and counted; at close a running retrain
 * is abandoned, not waited for.
 */
import { loadBundle, type LoadedBundle } from '../bundle/index.ts';
import { minBuildSamples } from '../config/index.ts';
import { asLayercacheError, LayercacheError } from '../errors/index.ts';
import { savedOrMore, seededRng, targetAgreementPct, type Rng } from '../tensor/index.ts';
import { AgreementGuard } from './agreement-guard.ts';
import { keptBecause, liveMacsSaved, retrainVerdict } from './retrain-verdict.ts';
import { setAgreementGauges } from './agreement-gauges.ts';
import type { EngineReply } from './messages.ts';
import { persistBufferFile, restoreBufferFile } from './buffer-file.ts';
import { SampleBuffer } from './sample-buffer.ts';
import { guardRaisesOf, revisedBundle } from './bundle-revision.ts';
import type { OnlineDeps } from './online-deps.ts';
import { onlineStatus, type OnlineStatus } from './online-status.ts';
import { runOnlineRetrain, type FinishedRetrain } from './retrain-run.ts';
import { RetrainSchedule } from './retrain-schedule.ts';
import { ServingVersion, type InMemoryVersion } from './serving-version.ts';
import { admits, verifyRule, type VerifyRule } from './verify-rule.ts';

export class OnlineLearner {
  private readonly buffer: SampleBuffer;
  private readonly rng: Rng;
  private guard: AgreementGuard;
  private readonly serving: ServingVersion;
  private retraining: Promise<void> | null = null;
  private guarding: Promise<void> | null = null;
  private readonly schedule: RetrainSchedule;
  private retrains = 0;
  private restored = 0;
  private closed = false;
  /** Abandons the running retrain (kills its process), while one runs. */
  private stopRetrain: (() => void) | null = null;

  /**
   * start: the version served first; `learntOnline` when it was resumed from the state directory with heads a
   * retrain learnt from clients' traffic: its exits start on probation, as after the swap that first served them (this
   * process has verified none of their answers), so a restart does not end a retrained version's probation.
   */
  constructor(private readonly deps: OnlineDeps, start: { version: number; bundle: LoadedBundle | null; learntOnline?: boolean }) {
    const rowSize = deps.sampleDims.reduce((a, b) => a * b, 1);
    // Without learning nothing is buffered: no memory is set aside.
    this.buffer = new SampleBuffer(rowSize, deps.config.enabled ? deps.config.bufferSamples : 1, deps.config.bufferBytes);
    const least = minBuildSamples(deps.build.folds);
    if (deps.config.enabled && this.buffer.capacity < least) {
      throw new LayercacheError('CONFIG_INVALID', `the online buffer's ${deps.config.bufferBytes} bytes (--buffer-bytes, serve.online.bufferBytes) hold only ${this.buffer.capacity} samples of ${rowSize * 4} bytes, and a retrain needs at least ${least}; raise --buffer-bytes`);
    }
    if (deps.config.enabled && this.buffer.capacity < deps.config.bufferSamples) {
      deps.log.warn({ capacity: this.buffer.capacity, asked: deps.config.bufferSamples }, `online buffer: ${this.buffer.capacity} samples, not the ${deps.config.bufferSamples} of --buffer-samples: a sample is ${(rowSize * 4 / 1024).toFixed(0)} KiB and --buffer-bytes caps the buffer at ${(deps.config.bufferBytes / 2 ** 20).toFixed(0)} MiB, so retrains learn from the latest ${this.buffer.capacity} samples; raise --buffer-bytes to keep more`);
    }
    this.rng = seededRng(deps.config.seed);
    this.schedule = new RetrainSchedule(deps.config.retrainAfter, deps.config.retrainEvery);
    this.serving = new ServingVersion(deps, start);
    this.guard = this.newGuard();
    if (start.learntOnline === true) this.guard.startProbation();
    if (deps.config.enabled) deps.log.info({ capacity: this.buffer.capacity, bytes: this.buffer.bytes }, `online buffer: ${this.buffer.capacity} samples, ${(this.buffer.bytes / 2 ** 20).toFixed(1)} MiB`);
  }

  /**
   * The cut tensor of exit `e` in `version`, for metric labels: an exit index names another tensor after a retrain.
   * '' for the backbone (e < 0) or a version no longer known (answers in flight across several swaps).
   */
  exitTensor(version: number, e: number): string {
    return this.serving.exitTensor(version, e);
  }

  /** The version serving requests (cheap: no guard statistics). */
  get servingVersion(): number {
    return this.serving.version;
  }

  private get version(): number {
    return this.serving.version;
  }

  private get bundle(): LoadedBundle | null {
    return this.serving.bundle;
  }

  private get exitCount(): number {
    return this.bundle?.manifest.exits.length ?? 0;
  }

  /** Exits that answer (a guard-disabled one has no threshold): with none, every row runs the whole backbone. */
  private get activeExits(): number {
    return this.bundle?.manifest.exits.filter((x) => x.threshold !== null).length ?? 0;
  }

  /** The guard's raises per exit, as the serving version records them (none for a retrained one). */
  private get raises(): number[] {
    return guardRaisesOf(this.bundle, this.exitCount);
  }

  private get learning(): boolean {
    return this.deps.config.enabled;
  }

  private newGuard(): AgreementGuard {
    return new AgreementGuard(this.exitCount, this.deps.config.guardWindow, this.deps.config.guardDelta, this.deps.config.guardMinSamples);
  }

  /** Per row of a request about to be queued: its verification draw, uniform in [0, 1) (verify-rule.ts). */
  verifyDraws(rows: number): Float64Array {
    const draws = new Float64Array(rows);
    for (let i = 0; i < rows; i++) draws[i] = this.rng.uniform();
    return draws;
  }

  /**
   * What a batch about to run verifies: per exit, --verify-share, or guardBoostShare while the guard wants evidence on
   * it (the point estimate says agreement is short, not yet significantly, or the exit has too few fresh verified
   * answers: evidence to act, or the all-clear, comes within hundreds of requests, not thousands), and more of the
   * answers of an exit that answers few rows (verify-rule.ts).
   */
  verifyRule(): VerifyRule {
    const c = this.deps.config;
    if (!this.bundle) return { admitBelow: c.verifyShare, verifyBelow: [] };
    return verifyRule(c.verifyShare, c.guardBoostShare, this.guard.evidenceWanted(this.deps.build.tolerance), this.guard.shares());
  }

  /** After a batch was answered. input: [rows, ...sample]; exits, draws: [rows] (exit −1 = full backbone). */
  onAnswered(input: Float32Array, exits: Int32Array, draws: Float64Array, version: number): void {
    if (version !== this.version) return;
    this.guard.recordAnswers(exits);
    if (!this.learning) return;
    const keep = new Uint8Array(exits.length);
    // Full-backbone rows are admitted now (all of them while no exit answers, else those drawn under --verify-share);
    // such early answers are admitted when their verification comes back.
    const rule = { admitBelow: this.deps.config.verifyShare, verifyBelow: [] };
    const everyRow = this.activeExits === 0;
    for (let i = 0; i < exits.length; i++) keep[i] = exits[i] === -1 && (everyRow || admits(rule, draws[i]!)) ? 1 : 0;
    this.buffer.add(input, exits.length, keep);
    this.afterAdmit();
  }

  /** Early answers verified by an engine worker. */
  onVerified(v: Extract<EngineReply, { kind: 'verified' }>): void {
    if (this.closed || v.version !== this.version) return;
    const m = this.deps.metrics;
    for (let k = 0; k < v.rows; k++) {
      this.guard.recordVerified(v.exits[k]!, v.agree[k] === 1, v.scores[k]!);
      m.verified.inc({ model: this.deps.model, exit: String(v.exits[k]), tensor: this.exitTensor(v.version, v.exits[k]!), agree: v.agree[k] === 1 ? 'yes' : 'no' });
    }
    if (this.learning) {
      // Those drawn under --verify-share only: verifying more does not learn more.
      this.buffer.add(v.input, v.rows, v.admit);
      this.afterAdmit();
    }
    this.updateGauges();
    this.checkGuard();
  }

  private afterAdmit(): void {
    this.deps.metrics.bufferSamples.set({ model: this.deps.model }, this.buffer.size);
    if (this.schedule.isDue(this.buffer.total) && !this.retraining && !this.closed) {
      this.schedule.started(this.buffer.total);
      const running = this.logged(this.retrain()).finally(() => {
        this.retraining = null;
      });
      this.retraining = running;
    }
  }

  /** task, with its failure logged (and counted by the task itself), never rejecting. */
  private logged(task: Promise<void>): Promise<void> {
    return task.catch((err: unknown) => {
      const e = asLayercacheError(err);
      this.deps.log.error({ code: e.code, err: e }, `online: ${e.message}`);
    });
  }

  /**
   * Sets the agreement gauges from the guard. Exit shares move with every request, so a scrape of /metrics
   * calls this too; an exit with no verified answer has no agreement gauge (rather than a made-up 1).
   */
  updateGauges(): void {
    setAgreementGauges(this.deps.metrics, this.deps.model, this.guard, this.bundle, (e) => this.exitTensor(this.version, e));
  }

  /**
   * Raises (or disables) the threshold of the exit losing most agreement, if live agreement is
   * too low; also while a retrain runs (whose result, when it lands, is numbered above it).
   */
  private checkGuard(): void {
    if (this.guarding || this.closed || !this.bundle) return;
    const bundle = this.bundle;
    const plan = this.guard.plan(bundle.manifest.exits.map((x) => x.threshold), this.raises, this.deps.build.tolerance, this.deps.config);
    if (plan === null) return;
    const { exit: e, before, disable, stats, thresholds } = plan;
    const duringRetrain = this.retraining !== null;
    const action = this.logged(this.serving.serial(async () => {
      // A retrain swapped in meanwhile: its heads and thresholds are fresh, and its verified answers decide anew.
      if (this.bundle !== bundle || this.closed) return;
      // Saved when the state directory takes it; else served from memory all the same (the files of the version it
      // revises, with the new thresholds): protecting answers waits neither for a full or read-only disk nor for a
      // versions directory that cannot be listed.
      let unsaved: Error | null = null;
      const version = await this.serving.allocate().catch((err: unknown) => {
        unsaved = err as Error;
        return this.serving.allocateUnsaved();
      });
      unsaved ??= await this.deps.store.saveRevision(bundle, version, thresholds, plan.raises).then(() => null, (err: unknown) => err as Error);
      const inMemory = unsaved ? { bundle: revisedBundle(bundle, version, thresholds, plan.raises), source: { kind: 'bundle' as const, dir: bundle.dir, thresholds, manifestSha256: bundle.manifestSha256 } } : undefined;
      try {
        // The guard keeps what still applies: the other exits' evidence, and this exit's share above its new threshold.
        await this.swapTo(version, (guard) => guard.raiseExit(e, thresholds[e] ?? Number.POSITIVE_INFINITY, plan.recent), inMemory);
      } catch (err) {
        // The next try waits for guardMinSamples fresh verified answers, instead of swapping per answer.
        this.guard.resetExit(e);
        if (unsaved) this.deps.log.warn({ err: unsaved, version }, `guard: version ${version} could not be saved either (${unsaved.message})`);
        throw err;
      }
      if (unsaved) {
        this.deps.metrics.guardUnsaved.inc({ model: this.deps.model });
        this.deps.log.error({ err: unsaved, version }, `guard: version ${version} could not be saved (${unsaved.message}); it serves from memory, and a restart before a later version is saved resumes an older one without this action (whose number a later version may then take)`);
      }
      this.schedule.resetBackoff();
      const what = disable ? 'disable' : 'raise';
      this.deps.metrics.guardActions.inc({ model: this.deps.model, exit: String(e), tensor: this.exitTensor(this.version, e), action: what });
      this.deps.log.warn({ exit: e, action: what, verified: stats.n, agreement: stats.agreement, recent: plan.recent, thresholdBefore: before, thresholdAfter: thresholds[e], version, duringRetrain }, `guard: live agreement below ${targetAgreementPct(this.deps.build.tolerance)}${plan.recent === null ? '' : ` on exit ${e}'s last ${plan.recent} verified answers (${plan.evidence.agreed} agreeing)`}; exit ${e} ${disable ? 'disabled' : `threshold raised by ${(thresholds[e]! - before).toFixed(2)} log-odds, to ${thresholds[e]!.toFixed(2)}`} (version ${version})`);
      await this.serving.prune();
    })).finally(() => {
      this.guarding = null;
    });
    this.guarding = action;
  }

  /**
   * Serves `version` (see ServingVersion.swapTo). The guard keeps what still applies to a guard action's version
   * (`keep`); a retrained version, with new heads, starts afresh.
   */
  private async swapTo(version: number, keep?: (guard: AgreementGuard) => void, inMemory?: InMemoryVersion): Promise<void> {
    await this.serving.swapTo(version, inMemory);
    if (keep) keep(this.guard);
    else {
      // New heads: their answers are verified at the boosted share until each exit has guardMinSamples of them.
      this.guard = this.newGuard();
      this.guard.startProbation();
    }
    this.updateGauges();
  }

  private async retrain(): Promise<void> {
    try {
      const version = await this.serving.allocate();
      this.serving.building = version;
      await this.retrainAs(version);
    } catch (err) {
      // A buffer that cannot build (too few distinct samples, say) would otherwise fail again every retrainEvery.
      this.schedule.finished(false, this.buffer.total);
      this.deps.log.info({ nextAfter: this.schedule.nextWait }, `retrain: the next retrain waits for ${this.schedule.nextWait} new samples`);
      throw err;
    } finally {
      this.serving.building = null;
    }
  }

  private async retrainAs(version: number): Promise<void> {
    // Closed while the number was being chosen: close() found no retrain to stop, so none may start (nor count as started).
    if (this.closed) {
      this.schedule.abandoned();
      return;
    }
    let reply: FinishedRetrain | 'abandoned';
    try {
      reply = await runOnlineRetrain(this.deps, version, this.buffer.size, () => this.buffer.snapshot(), {
        closed: () => this.closed,
        started: (stop) => { this.stopRetrain = stop; },
      });
    } finally {
      this.stopRetrain = null;
    }
    if (reply === 'abandoned') {
      // Its samples wait for the next start, whose retrain comes at once if this one was due.
      this.schedule.abandoned();
      return;
    }
    const serving = await this.serving.serial(() => this.settle(reply));
    if (serving === null || serving === 'kept') return;
    const tensors = this.bundle?.manifest.exits.map((x) => x.tensor) ?? [];
    this.deps.log.info({ version: serving, exits: reply.exits, tensors, calibrationAgreement: reply.agreement, macsSaved: reply.macsSaved, seconds: reply.seconds, latencyReused: reply.latencyReused }, `retrain: version ${serving} serving (${reply.exits} exit${reply.exits === 1 ? '' : 's'}${tensors.length > 0 ? ` at ${tensors.join(', ')}` : ''}, MACs ${savedOrMore(reply.macsSaved)} on calibration)${reply.noExitReason ? `: ${reply.noExitReason}` : ''}`);
  }

  /**
   * After a retrain's build (one at a time with the other swaps): keeps the serving version (retrain-verdict.ts), or
   * swaps the build in, numbered above every version. The version now serving, or 'kept', or null once closing.
   */
  private async settle(done: FinishedRetrain): Promise<number | 'kept' | null> {
    const m = this.deps.metrics;
    if (this.closed) return null;
    const manifest = this.bundle?.manifest;
    const macsSaved = manifest ? liveMacsSaved(manifest.exits, manifest.source.totalMacs, this.guard.shares()) : 0;
    const live = { answeringExits: this.activeExits, ...this.guard.overall(), verified: this.guard.stats().reduce((a, x) => a + x.n, 0), macsSaved };
    const verdict = retrainVerdict(done, live, this.deps.build.tolerance, this.deps.config.guardMinSamples);
    if (verdict.keep) {
      await this.deps.store.remove(done.version);
      m.retrains.inc({ model: this.deps.model, outcome: 'kept' });
      this.schedule.finished(false, this.buffer.total);
      const why = keptBecause(verdict.why, done, live, this.version, this.deps.build.tolerance);
      this.deps.log.info({ version: this.version, built: done.version, why: verdict.why, lower: live.lower, verified: live.verified, macsSaved: done.macsSaved, liveMacsSaved: live.macsSaved, nextAfter: this.schedule.nextWait }, `retrain: version ${done.version} ${why}; the next retrain waits for ${this.schedule.nextWait} new samples`);
      return 'kept';
    }
    // No exit, and none served before either: the swap changes nothing, and the next retrain waits longer.
    const fruitless = done.exits === 0 && this.activeExits === 0;
    let v = done.version;
    try {
      if (v < this.version) {
        // A guard action landed during the retrain under a higher number: versions only grow, so the
        // retrained bundle is saved again under a new one (the old copy is pruned with the others).
        v = await this.serving.allocate();
        const built = await loadBundle(this.deps.store.dirOf(done.version));
        await this.deps.store.saveRevision(built, v, built.manifest.exits.map((x) => x.threshold), new Array<number>(built.manifest.exits.length).fill(0));
        this.deps.log.info({ version: v, built: done.version }, `retrain: version ${done.version} saved again as version ${v}, after the guard's version ${this.version}`);
      }
      await this.swapTo(v);
    } catch (err) {
      // Counted whichever step failed; the retrained copy that never served is not left for a restart to resume.
      m.retrains.inc({ model: this.deps.model, outcome: 'failed' });
      // Also when the renumbering failed before it had a number (v is still the built one); removing twice is harmless.
      // Never the serving version (a step after its swap failed).
      if (this.serving.version !== done.version) await this.deps.store.remove(done.version).catch((e: unknown) => this.deps.log.warn({ err: e, version: done.version }, `state: version ${done.version} could not be deleted: ${(e as Error).message}`));
      throw err;
    }
    // Counted as soon as it serves (status and metrics agree with the answers' versions), pruned after.
    this.retrains++;
    this.schedule.finished(!fruitless, this.buffer.total);
    if (fruitless) this.deps.log.info({ version: v, nextAfter: this.schedule.nextWait }, `retrain: version ${v} keeps no exit, as the version before it; the next retrain waits for ${this.schedule.nextWait} new samples`);
    m.retrains.inc({ model: this.deps.model, outcome: 'swapped' });
    await this.serving.prune();
    return v;
  }

  status(): OnlineStatus {
    return onlineStatus({
      version: this.version, tolerance: this.deps.build.tolerance, bundle: this.bundle, raises: this.raises,
      stats: this.guard.stats(), agreement: this.guard.overall(), rule: this.verifyRule(), buffer: this.buffer,
      restoredSamples: this.restored, nextRetrainAt: this.learning ? this.schedule.dueAt : null,
      retraining: this.retraining !== null, retrains: this.retrains,
    });
  }

  /** At start: restores the buffer a graceful shutdown saved, with its retrain schedule (see buffer-file.ts). */
  async restoreBuffer(): Promise<void> {
    if (!this.learning || this.deps.bufferFile === null) return;
    const r = await restoreBufferFile(this.deps.bufferFile, this.buffer, { model: this.deps.modelSha256, sampleDims: this.deps.sampleDims, preprocess: this.deps.preprocess }, this.deps.log);
    if (r === null) return;
    this.schedule.restore(r);
    this.restored = this.buffer.size;
    // A retrain already due (one the last shutdown abandoned, say) starts now, not with the next request.
    this.afterAdmit();
  }

  /** After close and the batcher's drain: saves the buffer for the next start; rejects when it could not be saved. */
  async saveBuffer(): Promise<void> {
    if (!this.learning || this.deps.bufferFile === null || this.buffer.size === 0) return;
    await persistBufferFile(this.deps.bufferFile, this.buffer, { model: this.deps.modelSha256, sampleDims: this.deps.sampleDims, preprocess: this.deps.preprocess, ...this.schedule.state }, this.deps.log);
  }

  /** Resolves when no retrain or guard action is running. */
  async idle(): Promise<void> {
    while (this.retraining || this.guarding) await Promise.all([this.retraining, this.guarding]);
  }

  /** Stops learning: a running retrain is abandoned (its process killed), a guard action finishes. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopRetrain?.();
    await this.idle();
  }
}
