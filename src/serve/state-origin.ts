/**
 * Which bundle a state directory's versions grew from (STATE/origin.json: the manifest sha256 of the bundle the
 * server was last started with, or null for a bare model), so that a start with another bundle serves that bundle
 * rather than resuming the versions of the old one (an audit rebuilt a bundle, restarted with the same --state, and was
 * served the old one's retrained version, logged as a version of the new bundle).
 * Invariants: a given bundle other than the recorded one is saved as a new version above the newest (version numbers
 * only grow, and a restart resumes it or what grew from it); nothing is deleted (older versions go as keepVersions
 * says); a state directory without the file (written before it existed) resumes as before, and gets one.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadBundle, type LoadedBundle } from '../bundle/index.ts';
import { writeFileAtomic } from '../files/index.ts';
import { guardRaisesOf } from './bundle-revision.ts';
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

/**
 * The version to serve at start: `resumed` (the newest valid version, already checked to be for this backbone and
 * preprocessing), or, when `given` is a bundle other than the one the state grew from, that bundle saved as a new
 * version above it (`adopted`). Records `given` as the state's origin either way. `say` hears what was done.
 */
export async function resumeOrAdopt(
  store: VersionStore, given: LoadedBundle | null, givenPath: string,
  resumed: { version: number; bundle: LoadedBundle } | null, say: (text: string) => void,
): Promise<{ version: number; bundle: LoadedBundle; adopted?: true } | null> {
  const file = path.join(store.stateDir, ORIGIN_FILE);
  const origin = await readOrigin(file);
  const now: Origin = { bundle: given?.manifestSha256 ?? null };
  let served: { version: number; bundle: LoadedBundle; adopted?: true } | null = resumed;
  if (given && resumed && origin !== null && origin.bundle !== now.bundle) {
    const version = await store.nextVersion(resumed.version);
    const exits = given.manifest.exits;
    const dir = await store.saveRevision(given, version, exits.map((x) => x.threshold), guardRaisesOf(given, exits.length));
    served = { version, bundle: await loadBundle(dir), adopted: true };
    say(`state: bundle ${givenPath} is not the bundle version ${resumed.version} grew from; it serves as version ${version} (the older versions stay until keepVersions prunes them)`);
  }
  await writeFileAtomic(file, `${JSON.stringify(now)}\n`);
  return served;
}
