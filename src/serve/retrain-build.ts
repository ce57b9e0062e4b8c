/**
 * The build configuration the server's retrains run with. Serving a bundle, a setting the configuration leaves at its
 * default is the bundle's as built (its augmentation, head family, training, objective, score, folds, statistical
 * mode: builder's recordedBuildConfig), so a retrain learns as the bundle was built; a setting given (`serve
 * --augment`, or the configuration from code) is used as given. An audit served a bundle built with flip
 * augmentation, and its first retrain, without it, saved 8.6% of MACs where the bundle saved 13.6%.
 * Invariants: the tolerance is the one the server holds, and the scores output the one it reads; a recorded setting
 * the configuration would refuse (a bundle from another version) is not used, and the warning says so.
 */
import { isDeepStrictEqual } from 'node:util';
import { recordedBuildConfig } from '../builder/index.ts';
import type { LoadedBundle } from '../bundle/index.ts';
import { deriveConfig, parseConfig, type BuildConfig, type Config, type ConfigInput } from '../config/index.ts';

export function retrainBuild(config: Config, given: LoadedBundle | null, tolerance: number, scoresOutput: string | null, warn: (text: string) => void): BuildConfig {
  const own = { scoresOutput, tolerance };
  if (!given) return deriveConfig(config, { build: own }).build;
  const defaults = parseConfig({}).build as Readonly<Record<string, unknown>>;
  const set = config.build as Readonly<Record<string, unknown>>;
  const inherited = Object.fromEntries(Object.entries(recordedBuildConfig(given.manifest.build)).filter(([k]) => isDeepStrictEqual(set[k], defaults[k])));
  try {
    return deriveConfig(config, { build: { ...inherited, ...own } as ConfigInput['build'] }).build;
  } catch (err) {
    warn(`retrains: bundle ${given.dir} records build settings this version does not take (${(err as Error).message}); retrains use the configuration's`);
    return deriveConfig(config, { build: own }).build;
  }
}
