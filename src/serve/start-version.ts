/**
 * Which version a start serves from its state directory (StartVersions): the newest that loads and fits the given
 * source, unless the given bundle is not the one the state's versions grew from. STATE/origin.json records that
 * bundle (its manifest sha256, or null for a bare model) and `since`, the oldest version that grew from it, so that a
 * start with another bundle serves that bundle rather than the old one's versions (an audit rebuilt a bundle,
 * restarted with the same --state, and was served the old one's retrained version, logged as a version of the new
 * bundle).
 * Invariants: no version below `since` is served in the recorded bundle's name, nor by a bare model (a newest version
 * below it, or a fallback below it, adopts the bundle again or fails the start, or serves the bare backbone); a given
 * bundle other than the recorded one is recorded first and then saved as a new version above the newest, so a start
 * cut short in between leaves a record no other bundle's versions pass (version numbers only grow, nothing is
 * deleted: older versions go as keepVersions says); a copy the engine cannot load is removed and the previous record
 * put back; a state directory without the file (written before it existed) resumes as before, and gets one, unless
 * a version it resumes has heads the given bundle does not: then every start warns.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadBundle, type LoadedBundle } from '../bundle/index.ts';
import { preprocessFlags, samePreprocess, type Preprocess } from '../data/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { writeFileAtomic } from '../files/index.ts';
import { guardRaisesOf, headsLearntOnline } from './bundle-revision.ts';
import type { VersionStore } from './version-store.ts';

export const ORIGIN_FILE = 'origin.json';

interface Origin {
  /** manifestSha256 of the bundle the server was started with; null: a bare model. */
  readonly bundle: string | null;
  /** The oldest version that grew from it (where it was adopted; 0: every version). */
  readonly since: number;
}

/** The record: absent, unreadable (why), or read. */
type OriginReading = { readonly origin: Origin | null; readonly problem: string | null };

async function readOrigin(file: string): Promise<OriginReading> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    return { origin: null, problem: (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : (err as Error).message };
  }
  try {
    const o = JSON.parse(text) as { bundle?: unknown; since?: unknown } | null;
    const since = o?.since ?? 0;
    if ((typeof o?.bundle === 'string' || o?.bundle === null) && Number.isInteger(since) && (since as number) >= 0) return { origin: { bundle: o.bundle, since: since as number }, problem: null };
    return { origin: null, problem: 'not a record of the form {"bundle": SHA256 or null, "since": VERSION}' };
  } catch (err) {
    return { origin: null, problem: (err as Error).message };
  }
}

/** What a resumed version must match: the given source's backbone (sha256), preprocessing and scores output. */
export interface ResumeExpectation {
  readonly sha256: string;
  readonly preprocess: Preprocess | null;
  readonly scoresOutput: string | null;
  /** The given source's path, and whether it is a bundle (for the messages). */
  readonly sourcePath: string;
  readonly given: boolean;
}

/**
 * The newest version below `below` that loads (`onSkip` hears about each newer one that does not), refused
 * (STATE_MISMATCH) when it was built for another backbone, or preprocesses inputs or reads the class scores otherwise
 * than this start asks: images would be normalised in a way nobody asked for.
 */
async function latestResumable(store: VersionStore, x: ResumeExpectation, onSkip: (version: number, err: LayercacheError) => void, below?: number): Promise<StartVersion | null> {
  const r = await store.latestValid(onSkip, below);
  if (!r) return null;
  const stateDir = store.stateDir;
  const m = r.bundle.manifest;
  if (m.source.sha256 !== x.sha256) {
    throw new LayercacheError('STATE_MISMATCH', `state directory ${stateDir} holds version ${r.version} built for ${m.source.file} (sha256 ${m.source.sha256.slice(0, 12)}…), not for ${x.sourcePath} (sha256 ${x.sha256.slice(0, 12)}…); serve the model that state was built for, or pass a new --state directory`);
  }
  if (!samePreprocess(m.preprocess, x.preprocess)) {
    throw new LayercacheError('STATE_MISMATCH', `state directory ${stateDir} holds version ${r.version}, which preprocesses inputs with ${preprocessFlags(m.preprocess)}, but ${x.given ? `bundle ${x.sourcePath} uses` : 'this start asks for'} ${preprocessFlags(x.preprocess)}; ${x.given ? 'serve the bundle that state grew from' : 'pass the flags the state was served with'}, or a new --state directory`);
  }
  const readFrom = m.source.reading?.scoresOutput ?? null;
  if (readFrom !== x.scoresOutput) {
    const name = (o: string | null) => (o === null ? 'the first output' : `output '${o}'`);
    throw new LayercacheError('STATE_MISMATCH', `state directory ${stateDir} holds version ${r.version}, which reads the class scores from ${name(readFrom)}, not from ${name(x.scoresOutput)} (--scores-output); pass the --scores-output it was built with, or a new --state directory`);
  }
  return r;
}

/**
 * A version to serve at start; `adopted`: the given bundle, saved into the state at this start; `unsure`: resumed from
 * a state with no record whose heads are not all the given bundle's (no record is written, so each start warns).
 */
interface StartVersion {
  readonly version: number;
  readonly bundle: LoadedBundle;
  readonly adopted?: true;
  readonly unsure?: true;
}

type StartLog = { info(text: string): void; warn(text: string): void; error(text: string): void };

/**
 * The version a start serves, and the older ones it falls back to when the engine cannot load it. Opened with the
 * newest resumable version: that one, or, when `given` is a bundle other than the one the state grew from, that
 * bundle saved as a new version above it (`adopted`). A state with no record (from before there was one) whose
 * version has heads the given bundle does not is resumed with a warning (`unsure`): it may have grown from another
 * bundle, or learnt from traffic. Nothing is recorded until `record`.
 */
export class StartVersions {
  private constructor(
    private readonly store: VersionStore, private readonly given: LoadedBundle | null, private readonly givenPath: string,
    private readonly x: ResumeExpectation, private origin: Origin | null, private readonly log: StartLog,
    private readonly onSkip: (version: number, err: Error) => void, private served: StartVersion | null,
  ) {}

  /** The version to serve (null: the given bundle as built, or the bare backbone). */
  get current(): StartVersion | null {
    return this.served;
  }

  static async open(store: VersionStore, given: LoadedBundle | null, x: ResumeExpectation, log: StartLog, onSkip: (version: number, err: Error) => void): Promise<StartVersions> {
    const resumed = await latestResumable(store, x, onSkip);
    const file = path.join(store.stateDir, ORIGIN_FILE);
    const { origin, problem } = await readOrigin(file);
    if (problem !== null) log.warn(`state: ${file} cannot be read (${problem}); the state is taken to have no record of the bundle its versions grew from`);
    const v = new StartVersions(store, given, x.sourcePath, x, origin, log, onSkip, resumed);
    if (!resumed) return v;
    if (!given) {
      // A bare model serves the bare backbone rather than a version below the recorded bundle's.
      if (resumed.version < (origin?.since ?? 0)) v.served = null;
    } else if (origin === null) v.served = v.checked(resumed);
    else if (origin.bundle !== given.manifestSha256) await v.adopt(resumed, `it is not the bundle version ${resumed.version} grew from`);
    else if (resumed.version < origin.since) await v.adopt(resumed, `version ${resumed.version} grew from another bundle (this one was adopted at version ${origin.since}, which is gone)`);
    return v;
  }

  /** The versions since the recorded bundle was adopted are its (0: all of them), for the given source. */
  private get since(): number {
    return !this.given || this.origin?.bundle === this.given.manifestSha256 ? this.origin?.since ?? 0 : 0;
  }

  /** Saves the given bundle as a new version above the newest, recorded first (see the top comment). */
  private async adopt(resumed: StartVersion, why: string): Promise<void> {
    const given = this.given!;
    const version = await this.store.nextVersion(resumed.version);
    await this.write({ bundle: given.manifestSha256, since: version });
    const exits = given.manifest.exits;
    const dir = await this.store.saveRevision(given, version, exits.map((e) => e.threshold), guardRaisesOf(given, exits.length));
    this.log.info(`state: bundle ${this.givenPath} serves as version ${version}: ${why} (the older versions stay until keepVersions prunes them)`);
    this.served = { version, bundle: await loadBundle(dir), adopted: true };
  }

  /** Without a record: `r`, unsure (and said) when it has heads the given bundle does not. */
  private checked(r: StartVersion): StartVersion {
    if (!this.given || !headsLearntOnline(r.bundle, this.given)) return r;
    const sha = this.given.manifestSha256;
    this.log.warn(`state: ${this.store.stateDir} has no record of the bundle its versions grew from (it was written before layercache kept one), and version ${r.version} has heads bundle ${this.givenPath} does not; it is resumed. To keep serving these versions and stop this warning, write {"bundle":"${sha}"} to ${path.join(this.store.stateDir, ORIGIN_FILE)}; to serve ${this.givenPath} instead, move ${this.store.versionsDir} aside, or start with another --state`);
    return { ...r, unsure: true };
  }

  /**
   * The engine could not load the current version (`err`): the next older one; `err` is thrown when the current one
   * is the given bundle adopted at this start (its copy is removed, and the previous record put back) or the older
   * one is below `since` (it grew from another bundle, and would be served in this one's name; a bare model serves
   * the bare backbone instead).
   */
  async fallBack(err: unknown): Promise<StartVersion | null> {
    const r = this.served;
    if (!r) throw err;
    if (r.adopted) {
      await this.store.remove(r.version).then(() => this.restoreRecord(), (e: unknown) => this.log.error(`state: version ${r.version}, the copy of bundle ${this.givenPath} the engine cannot load, could not be deleted: ${(e as Error).message}`));
      throw err;
    }
    this.onSkip(r.version, new Error(`its files are intact but the engine cannot load it: ${(err as Error).message}`));
    const next = await latestResumable(this.store, this.x, this.onSkip, r.version);
    if (next && next.version < this.since) {
      this.log.error(`state: version ${next.version} grew from another bundle than ${this.given ? this.givenPath : 'the one recorded'} (adopted at version ${this.since}), so it is not served${this.given ? ' in its name' : ''}`);
      if (this.given) throw err;
      this.served = null;
      return null;
    }
    this.served = next && this.origin === null ? this.checked(next) : next;
    return this.served;
  }

  /**
   * Records the bundle the state's versions grow from, once the engine has loaded the version to serve: the given
   * bundle (from the version it was adopted at; from above every version on disk when it serves as built); for a bare
   * model, none when nothing was resumed, else the record stays (a bundle's lineage served from its backbone still
   * grew from that bundle); nothing after an `unsure` resume.
   */
  async record(): Promise<void> {
    const c = this.served;
    if ((!this.given && c) || c?.unsure || c?.adopted) return;
    const unchanged = this.origin !== null && this.origin.bundle === (this.given?.manifestSha256 ?? null);
    // Serving as built (nothing resumed): versions on disk that would not load now are not this lineage's.
    const newest = c || unchanged ? undefined : (await this.store.list())[0];
    const since = unchanged ? this.origin!.since : newest === undefined ? 0 : newest + 1;
    await this.write({ bundle: this.given?.manifestSha256 ?? null, since });
  }

  /** The record before this start's adoption, put back (or removed, if there was none). */
  private async restoreRecord(): Promise<void> {
    if (this.origin) await this.write(this.origin);
    else await fs.rm(path.join(this.store.stateDir, ORIGIN_FILE), { force: true });
  }

  private async write(origin: Origin): Promise<void> {
    await writeFileAtomic(path.join(this.store.stateDir, ORIGIN_FILE), `${JSON.stringify(origin)}\n`);
  }
}
