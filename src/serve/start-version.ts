/**
 * Which version a start serves from its state directory: the newest that loads and fits the given source
 * (latestResumable), unless the given bundle is not the one the state's versions grew from (resumeOrAdopt).
 * STATE/origin.json records that bundle (its manifest sha256, or null for a bare model), so that a start with another
 * bundle serves it rather than the old one's versions (an audit rebuilt a bundle, restarted with the same --state,
 * and was served the old one's retrained version, logged as a version of the new bundle).
 * Invariants: a given bundle other than the recorded one is saved as a new version above the newest (version numbers
 * only grow, and a restart resumes it or what grew from it); nothing is deleted (older versions go as keepVersions
 * says); the record is written only once the start succeeded (recordOrigin), so a given bundle the engine cannot
 * load is not taken for the state's origin; a state directory without the file (written before it existed) resumes
 * as before, and gets one, unless its newest version's heads are not the given bundle's: then every start warns.
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
}

/** The recorded origin, or null when there is none (or it cannot be read as one: it is written again at this start). */
async function readOrigin(file: string): Promise<Origin | null> {
  const text = await fs.readFile(file, 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const o = JSON.parse(text) as unknown;
    const bundle = (o as { bundle?: unknown } | null)?.bundle;
    return typeof bundle === 'string' || bundle === null ? { bundle } : null;
  } catch {
    return null;
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
export async function latestResumable(store: VersionStore, x: ResumeExpectation, onSkip: (version: number, err: LayercacheError) => void, below?: number): Promise<StartVersion | null> {
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
export interface StartVersion {
  readonly version: number;
  readonly bundle: LoadedBundle;
  readonly adopted?: true;
  readonly unsure?: true;
}

/**
 * The version to serve at start: `resumed` (the newest valid version, already checked to be for this backbone and
 * preprocessing), or, when `given` is a bundle other than the one the state grew from, that bundle saved as a new
 * version above it (`adopted`). A state with no record (from before there was one) whose newest version has heads
 * the given bundle does not is resumed, with a warning: it may have grown from another bundle, or learnt from
 * traffic. Nothing is recorded until recordOrigin.
 */
export async function resumeOrAdopt(
  store: VersionStore, given: LoadedBundle | null, givenPath: string, resumed: StartVersion | null,
  log: { info(text: string): void; warn(text: string): void },
): Promise<StartVersion | null> {
  if (!given || !resumed) return resumed;
  const origin = await readOrigin(path.join(store.stateDir, ORIGIN_FILE));
  if (origin === null) {
    if (!headsLearntOnline(resumed.bundle, given)) return resumed;
    log.warn(`state: ${store.stateDir} has no record of the bundle its versions grew from (it was written before layercache kept one), and version ${resumed.version} has heads bundle ${givenPath} does not; it is resumed. If ${givenPath} is a new build to serve instead, move ${store.versionsDir} aside, or start with another --state`);
    return { ...resumed, unsure: true };
  }
  if (origin.bundle === given.manifestSha256) return resumed;
  const version = await store.nextVersion(resumed.version);
  const exits = given.manifest.exits;
  const dir = await store.saveRevision(given, version, exits.map((x) => x.threshold), guardRaisesOf(given, exits.length));
  log.info(`state: bundle ${givenPath} is not the bundle version ${resumed.version} grew from; it serves as version ${version} (the older versions stay until keepVersions prunes them)`);
  return { version, bundle: await loadBundle(dir), adopted: true };
}

/**
 * Records the bundle the state's versions grow from, once the start has succeeded: the given bundle; for a bare model,
 * none (null) when nothing was resumed, else the record stays (a bundle's lineage served from its backbone still
 * grew from that bundle); nothing after an `unsure` resume.
 */
export async function recordOrigin(store: VersionStore, given: LoadedBundle | null, served: StartVersion | null): Promise<void> {
  if ((!given && served) || served?.unsure) return;
  const origin: Origin = { bundle: given?.manifestSha256 ?? null };
  await writeFileAtomic(path.join(store.stateDir, ORIGIN_FILE), `${JSON.stringify(origin)}\n`);
}
