/**
 * The tolerance a server holds its answers to: the accuracy guard acts when live agreement falls below
 * 1 − tolerance, and retrains select exits and thresholds for it. Invariant: a bundle is served at the tolerance it
 * was built for unless the configuration says otherwise, a bare model at build.tolerance; what the state directory
 * holds (retrained or revised versions) does not change it, so a restart with the same settings keeps it.
 */
import type { LoadedBundle } from '../bundle/index.ts';

export interface ServingTolerance {
  readonly tolerance: number;
  /** Where it comes from, as the start-up log says it. */
  readonly from: string;
}

/**
 * given: serve.tolerance (null when not set); bundle: the bundle the server was started from (null for a bare model);
 * fallback: build.tolerance. A bundle whose manifest records no usable tolerance (one made in code) takes the fallback.
 */
export function servingTolerance(given: number | null, bundle: LoadedBundle | null, fallback: number): ServingTolerance {
  if (given !== null) return { tolerance: given, from: 'serve.tolerance, --tolerance' };
  const built = bundle?.manifest.build.tolerance;
  if (typeof built === 'number' && built > 0 && built < 1) return { tolerance: built, from: "the bundle's, as built; --tolerance overrides it" };
  return { tolerance: fallback, from: bundle ? "build.tolerance; the bundle records none" : 'build.tolerance, the default for a model; --tolerance sets it' };
}
