/**
 * The deployed heads, checked against the calibration's premise. Thresholds are chosen on out-of-fold
 * predictions, on the premise that each deployed head (trained on every build row) answers as its fold models
 * did. A briefly trained head can settle elsewhere (seen on a two-class model: fold heads near p 0.5–0.85, the
 * deployed head at p 0.95 on every row, so an exit calibrated to answer 0.2% of rows answered 99.7%, at 33%
 * agreement). The check runs the selected policy on the deployed heads' own predictions on the build rows:
 * they were trained on those rows, so agreement there should beat what the calibration expects; when it falls
 * under 1 − tolerance the deployed heads are not the ones calibrated, and the kept exit that disagrees most is
 * named for the selection to drop.
 * Invariant: a policy with no kept exit always passes.
 */
import { exitErrors, keptExits, simulate, type CalibrationTable, type Policy } from '../calibrate/index.ts';

/**
 * The kept exit to drop, or null when the policy passes: `deployed` is the calibration table with the deployed
 * heads' scores and agreement on the build rows in place of the out-of-fold ones.
 */
export function exitFailingDeployed(deployed: CalibrationTable, policy: Policy, tolerance: number): { exit: number; agreement: number } | null {
  const kept = keptExits(policy);
  if (kept.length === 0) return null;
  const { agreement } = simulate(deployed, policy);
  if (agreement >= 1 - tolerance) return null;
  const errors = exitErrors(deployed, policy);
  return { exit: kept.reduce((worst, e) => (errors[e]! > errors[worst]! ? e : worst)), agreement };
}
