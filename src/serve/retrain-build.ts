/**
 * The build configuration the server's retrains run with. Serving a bundle, a setting the configuration leaves at its
 * default is the bundle's as built (its augmentation, head family, training, objective, score, folds, statistical
 * mode: builder's recordedBuildConfig), so a retrain learns as the bundle was built; a setting given another value
 * (`serve --augment`, or the configuration from code) is used as given. An audit served a bundle built with flip
 * augmentation, and its first retrain, without it, saved 8.6% of MACs where the bundle saved 13.6%.
 * Invariants: the tolerance is the one the server holds, and the scores output the one it reads; a recorded setting
 * the configuration refuses (a bundle from another version, or one at odds with a setting given) is not used, nor a
 * recorded augmentation the served samples cannot take (`augmentProblem`: tensor samples whose layout the bundle does
 * not record), and a warning names each one.
 */
import { isDeepStrictEqual } from 'node:util';
import { recordedBuildConfig } from '../builder/index.ts';
import type { LoadedBundle } from '../bundle/index.ts';
import { deriveConfig, parseConfig, type BuildConfig, type Config, type ConfigInput } from '../config/index.ts';

export interface RetrainBuildOptions {
  /** What the server holds to and reads the class scores from. */
  readonly tolerance: number;
  readonly scoresOutput: string | null;
  /** Why these augmentations do not fit the served samples, or null when they do. */
  readonly augmentProblem: (augment: BuildConfig['augment']) => string | null;
  readonly info: (text: string) => void;
  readonly warn: (text: string) => void;
}

export function retrainBuild(config: Config, given: LoadedBundle | null, o: RetrainBuildOptions): BuildConfig {
  const own = { scoresOutput: o.scoresOutput, tolerance: o.tolerance };
  const derived = (extra: Record<string, unknown>): BuildConfig => deriveConfig(config, { build: { ...extra, ...own } as ConfigInput['build'] }).build;
  if (!given) return derived({});
  const defaults = parseConfig({}).build as Readonly<Record<string, unknown>>;
  const set = config.build as Readonly<Record<string, unknown>>;
  const inherited: Record<string, unknown> = {};
  const refused: string[] = [];
  // One at a time, so that one setting refused leaves the others inherited.
  for (const [k, v] of Object.entries(recordedBuildConfig(given.manifest.build))) {
    if (!isDeepStrictEqual(set[k], defaults[k])) continue;
    try {
      const build = derived({ ...inherited, [k]: v });
      const problem = k === 'augment' ? o.augmentProblem(build.augment) : null;
      if (problem !== null) throw new Error(problem);
      inherited[k] = v;
    } catch (err) {
      refused.push(`${k} (${(err as Error).message})`);
    }
  }
  if (refused.length > 0) o.warn(`retrains: bundle ${given.dir} was built with settings retrains here cannot take, so they use the configuration's: ${refused.join('; ')}`);
  const differ = Object.entries(inherited).filter(([k, v]) => !isDeepStrictEqual(v, defaults[k]));
  if (differ.length > 0) o.info(`retrains: as bundle ${given.dir} was built, ${differ.map(([k, v]) => `${k} ${settingText(v)}`).join(', ')}`);
  return derived(inherited);
}

/** A setting's value for the log: `flip,crop`, `macs`, `20`, or JSON for the rest. */
function settingText(v: unknown): string {
  if (typeof v === 'string') return v;
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(',') : JSON.stringify(v);
}
