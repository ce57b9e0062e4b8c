/**
 * Which version a start serves from its state directory (StartVersions): the newest that loads and fits the given
 * source, unless the given bundle is not the one the state's versions grew from. STATE/origin.json records that
 * bundle (its manifest sha256, or null for a bare model) and `since`, the oldest version that grew from it, so that a
 * start with another bundle serves that bundle rather than the old one's versions (an audit rebuilt a bundle,
 * restarted with the same --state, and was served the old one's retrained version, logged as a version of the new
 * bundle).
 * Invariants: no version below `since` is served in the recorded bundle's name, nor by a bare model, and none at all
 * while the record cannot be read: the given bundle is adopted (saved as a new version above the newest on disk, so
 * numbers only grow), or the bare backbone serves; an adoption's record is written before its copy is saved, and put
 * back as it was if the copy cannot be saved or served, so a start cut short leaves no other bundle's version to pass
 * for the recorded one (nothing older is deleted: keepVersions prunes); a state without the file (written before it
 * existed) resumes as before and gets one, unless a version it resumes has heads the given bundle does not: then
 * every start warns. A crash between an adoption's record and its copy costs the old bundle its lineage's standing
 * (its next start adopts it afresh), not its versions.
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

/** The record: read (origin), absent (both null), or unreadable (problem); text: the file as it was, to put back. */
type OriginReading = { readonly origin: Origin | null; readonly problem: string | null; readonly text: string | null };

async function readOrigin(file: string): Promise<OriginReading> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    return { origin: null, problem: (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : (err as Error).message, text: null };
  }
  try {
    const o = JSON.parse(text) as { bundle?: unknown; since?: unknown } | null;
    const since = o?.since ?? 0;
    if ((typeof o?.bundle === 'string' || o?.bundle === null) && Number.isInteger(since) && (since as number) >= 0) return { origin: { bundle: o.bundle, since: since as number }, problem: null, text };
    return { origin: null, problem: 'not a record of the form {"bundle": SHA256 or null, "since": VERSION}', text };
  } catch (err) {
    return { origin: null, problem: (err as Error).message, text };
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
    private readonly store: VersionStore, private readonly given: LoadedBundle | null,
    private readonly x: ResumeExpectation, private readonly reading: OriginReading, private readonly log: StartLog,
    private readonly onSkip: (version: number, err: Error) => void, private served: StartVersion | null,
  ) {}

  /** The version to serve (null: the given bundle as built, or the bare backbone). */
  get current(): StartVersion | null {
    return this.served;
  }

  private get origin(): Origin | null {
    return this.reading.origin;
  }

  static async open(store: VersionStore, given: LoadedBundle | null, x: ResumeExpectation, log: StartLog, onSkip: (version: number, err: Error) => void): Promise<StartVersions> {
    const resumed = await latestResumable(store, x, onSkip);
    const file = path.join(store.stateDir, ORIGIN_FILE);
    const reading = await readOrigin(file);
    const { origin, problem } = reading;
    // Unreadable is not absent (a state from before there was a record): nothing on disk is known to be whose.
    if (problem !== null) log.warn(`state: ${file} cannot be read (${problem}); no version in ${store.versionsDir} is served as this start's${given ? `: bundle ${x.sourcePath} is saved as a new version` : ''}`);
    const v = new StartVersions(store, given, x, reading, log, onSkip, resumed);
    if (!given) {
      // A bare model serves the bare backbone rather than a version below the recorded bundle's.
      const since = problem !== null ? Number.POSITIVE_INFINITY : origin?.since ?? 0;
      if (resumed && resumed.version < since) {
        log.warn(`state: version ${resumed.version} is not served: ${problem !== null ? 'the record of whose versions these are cannot be read' : `it is below version ${since}, where the recorded bundle was adopted`}; the bare backbone serves`);
        v.served = null;
      }
    } else if (problem !== null) await v.adopt('the state\'s record cannot be read');
    else if (!resumed) {
      // Nothing loads: served as built, but above any version on disk, so that numbers only grow.
      if ((await store.list()).length > 0) await v.adopt('no version in the state can be served');
    } else if (origin === null) v.served = v.checked(resumed);
    else if (origin.bundle !== given.manifestSha256) await v.adopt(`it is not the bundle version ${resumed.version} grew from`);
    else if (resumed.version < origin.since) await v.adopt(`version ${resumed.version} grew from another bundle (this one was adopted at version ${origin.since}, which is gone)`);
    return v;
  }

  /** The versions since the recorded bundle was adopted are its (0: all of them), for the given source. */
  private get since(): number {
    return !this.given || this.origin?.bundle === this.given.manifestSha256 ? this.origin?.since ?? 0 : 0;
  }

  /**
   * Saves the given bundle as a new version above the newest on disk, its record written first (see the top
   * comment); a failure to save it puts the record back.
   */
  private async adopt(why: string): Promise<void> {
    const given = this.given!;
    const version = await this.store.nextVersion(0);
    await this.write({ bundle: given.manifestSha256, since: version });
    try {
      const exits = given.manifest.exits;
      const dir = await this.store.saveRevision(given, version, exits.map((e) => e.threshold), guardRaisesOf(given, exits.length));
      this.served = { version, bundle: await loadBundle(dir), adopted: true };
    } catch (err) {
      await this.restoreRecord();
      throw err;
    }
    this.log.info(`state: bundle ${this.x.sourcePath} serves as version ${version}: ${why} (the older versions stay until keepVersions prunes them)`);
  }

  /** Without a record: `r`, unsure (and said) when it has heads the given bundle does not. */
  private checked(r: StartVersion): StartVersion {
    if (!this.given || !headsLearntOnline(r.bundle, this.given)) return r;
    const sha = this.given.manifestSha256;
    this.log.warn(`state: ${this.store.stateDir} has no record of the bundle its versions grew from (it was written before layercache kept one), and version ${r.version} has heads bundle ${this.x.sourcePath} does not; it is resumed. To keep serving these versions and stop this warning, write {"bundle":"${sha}"} to ${path.join(this.store.stateDir, ORIGIN_FILE)}; to serve ${this.x.sourcePath} instead, move ${this.store.versionsDir} aside, or start with another --state`);
    return { ...r, unsure: true };
  }

  /**
   * The engine could not load the current version (`err`): the next older one of the given source's lineage. A copy
   * adopted at this start is undone and `err` thrown; below `since`, or with none left, the given bundle is adopted
   * again above the newest (a bare model serves the bare backbone).
   */
  async fallBack(err: unknown): Promise<StartVersion | null> {
    const r = this.served;
    if (!r) throw err;
    if (r.adopted) {
      await this.abandon();
      throw err;
    }
    this.onSkip(r.version, new Error(`its files are intact but the engine cannot load it: ${(err as Error).message}`));
    const next = await latestResumable(this.store, this.x, this.onSkip, r.version);
    if (next && next.version >= this.since) {
      this.served = this.origin === null ? this.checked(next) : next;
      return this.served;
    }
    if (this.given) await this.adopt(next ? `version ${next.version} grew from another bundle (this one was adopted at version ${this.since})` : 'no version of its lineage can be served');
    else {
      if (next) this.log.warn(`state: version ${next.version} is not served: it is below version ${this.since}, where the recorded bundle was adopted; the bare backbone serves`);
      this.served = null;
    }
    return this.served;
  }

  /** The start failed after this start adopted the given bundle: its copy is removed and the record put back. */
  async abandon(): Promise<void> {
    const r = this.served;
    if (!r?.adopted) return;
    await this.store.remove(r.version).then(
      () => this.restoreRecord().catch((e: unknown) => this.log.error(`state: the record in ${path.join(this.store.stateDir, ORIGIN_FILE)} could not be put back: ${(e as Error).message}`)),
      (e: unknown) => this.log.error(`state: version ${r.version}, the copy of bundle ${this.x.sourcePath} this start made, could not be deleted: ${(e as Error).message}`),
    );
  }

  /**
   * Records the bundle the state's versions grow from, once the engine has loaded the version to serve: the given
   * bundle (from the version it was adopted at, written then); serving as built or the bare backbone, from above
   * every version on disk; for a bare model serving a version, the record stays (a bundle's lineage served from its
   * backbone still grew from that bundle); nothing after an `unsure` resume.
   */
  async record(): Promise<void> {
    const c = this.served;
    if ((!this.given && c) || c?.unsure || c?.adopted) return;
    const bundle = this.given?.manifestSha256 ?? null;
    let since = this.origin?.bundle === bundle ? this.origin.since : 0;
    if (!c) {
      // Nothing on disk serves: every later version grows from what serves as built.
      const newest = (await this.store.list())[0];
      since = newest === undefined ? 0 : newest + 1;
    }
    await this.write({ bundle, since });
  }

  /** The record as it was before this start's adoption, put back (removed, if there was none). */
  private async restoreRecord(): Promise<void> {
    const file = path.join(this.store.stateDir, ORIGIN_FILE);
    if (this.reading.text !== null) await writeFileAtomic(file, this.reading.text);
    else if (this.reading.problem === null) await fs.rm(file, { force: true });
  }

  private async write(origin: Origin): Promise<void> {
    await writeFileAtomic(path.join(this.store.stateDir, ORIGIN_FILE), `${JSON.stringify(origin)}\n`);
  }
}
