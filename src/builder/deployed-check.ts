/**
 * The deployed heads, checked against the calibration's premise. Thresholds are chosen on out-of-fold
 * predictions, on the premise that each deployed head (trained on every build row) answers as its fold models
 * did. A briefly trained head can settle elsewhere (seen on a two-class model: fold heads near p 0.5–0.85, the
 * deployed head at p 0.95 on every row, so an exit calibrated to answer 0.2% of rows answered 99.7%, at 33%
 * agreement). The check runs the selected policy on the deployed heads' own predictions on the build rows:
 * they were trained on those rows, so agreement there should beat what the calibration expects; when it falls
 * under 1 − tolerance the deployed heads are not the ones calibrated, and the kept exit that disagrees most is
 * dropped and the selection runs again.
 * Invariants: a policy with no kept exit always passes; every failed check removes one kept exit, so a
 * selection loop ends after at most one pass per candidate.
 */
import { keptExits, simulate, type CalibrationTable, type Policy } from '../calibrate/index.ts';

/** A kept exit the check dropped, and the selection's agreement with the deployed heads on the build rows. */
export interface DeployedDrop {
  readonly exit: number;
  readonly agreement: number;
}

/**
 * The kept exit to drop, or null when the policy passes: `deployed` is the calibration table with the deployed
 * heads' scores and agreement on the build rows in place of the out-of-fold ones.
 */
export function exitFailingDeployed(deployed: CalibrationTable, policy: Policy, tolerance: number): DeployedDrop | null {
  const kept = keptExits(policy);
  if (kept.length === 0) return null;
  const { agreement, exitErrors } = simulate(deployed, policy);
  if (agreement >= 1 - tolerance) return null;
  return { exit: kept.reduce((worst, e) => (exitErrors[e]! > exitErrors[worst]! ? e : worst)), agreement };
}

/**
 * Selects (`select`, which honours `allowed`) until the selection passes the deployed check; each failure
 * disallows its worst exit and is reported to `onDrop`. Returns the passing selection.
 */
export function selectDeployed<S extends { readonly policy: Policy }>(
  select: () => S, deployed: CalibrationTable, tolerance: number, allowed: boolean[], onDrop: (drop: DeployedDrop) => void,
): S {
  for (;;) {
    const s = select();
    const failing = exitFailingDeployed(deployed, s.policy, tolerance);
    if (!failing) return s;
    allowed[failing.exit] = false;
    onDrop(failing);
  }
}
