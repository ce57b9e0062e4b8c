/**
 * The headroom of a bundle's candidate heads on evaluation samples: per candidate exit, its
 * head's agreement with the backbone and the largest share of samples it could answer (most
 * confident first) at agreement ≥ 1 − tolerance; and the in-sample best, the cheapest policy in
 * MACs that calibrate.inSampleSelection finds on these very samples (no cross-validation, no
 * margin: optimistic, and found by search, not proven optimal). Each exit also carries its
 * agreement-vs-hit-rate curve, which shows where its answerable share comes from.
 * Invariant: heads are scored as the bundle scores them (its score kind, each candidate's
 * temperature); without a build tolerance in (0, 1) there is no headroom (null), not a guess.
 */
import { agreementCurve, answerableShare, argmaxRows, inSampleSelection, keptExits, scoresFor, type CalibrationTable, type ScoreKind } from '../calibrate/index.ts';

export interface Headroom {
  /** The bundle's build tolerance. */
  readonly tolerance: number;
  readonly exits: readonly {
    readonly candidate: number;
    readonly tensor: string;
    /** Share of the backbone's MACs before this exit. */
    readonly macsBefore: number;
    /** False for a candidate two-phase training only screened (a briefly trained head the build could not keep). */
    readonly refined: boolean;
    readonly agreement: number;
    readonly answerable: number;
    /** Agreement of the most confident answers at each share answered (calibrate.agreementCurve, up to 50 points). */
    readonly curve: { readonly hitRate: readonly number[]; readonly agreement: readonly number[] };
  }[];
  readonly inSampleBest: { readonly macsPerSample: number; readonly agreement: number; readonly exits: number };
}

/** Resolution of each exit's agreement-vs-hit-rate curve: one point per 2% of the samples at most. */
const CURVE_POINTS = 50;

/** What headroomOf reads of a bundle (a manifest's fields fit it). */
export interface HeadroomInput {
  /** The manifest's build.tolerance, as recorded (anything else than a number in (0, 1) gives null). */
  readonly tolerance: unknown;
  readonly kind: ScoreKind;
  readonly classes: number;
  readonly totalMacs: number;
  readonly candidates: readonly {
    readonly candidate: number;
    readonly tensor: string;
    readonly cumulativeMacs: number;
    readonly temperature: number;
    readonly head: { readonly macs: number };
    readonly refined?: boolean;
  }[];
}

/** traced: per candidate, its head's log-probabilities [n, classes]; reference: the backbone's classes [n]. */
export function headroomOf(input: HeadroomInput, traced: readonly Float32Array[], reference: Int32Array): Headroom | null {
  const { tolerance, kind, classes, totalMacs, candidates } = input;
  if (typeof tolerance !== 'number' || !(tolerance > 0 && tolerance < 1)) return null;
  // A bundle may list no candidates (the manifest allows it): then there is no headroom to show.
  if (candidates.length === 0) return null;
  const n = reference.length;
  const table: CalibrationTable = {
    n, fullCost: totalMacs,
    exits: candidates.map((c, e) => ({
      cost: c.cumulativeMacs, headCost: c.head.macs,
      score: scoresFor(kind, traced[e]!, classes, c.temperature),
      correct: Uint8Array.from(argmaxRows(traced[e]!, classes), (k, i) => (k === reference[i] ? 1 : 0)),
    })),
  };
  const best = inSampleSelection(table, tolerance);
  return {
    tolerance,
    exits: candidates.map((c, e) => {
      const col = table.exits[e]!;
      return {
        candidate: c.candidate, tensor: c.tensor, macsBefore: c.cumulativeMacs / totalMacs, refined: c.refined ?? true,
        agreement: col.correct.reduce((a, b) => a + b, 0) / n,
        answerable: answerableShare(col.score, col.correct, 1 - tolerance),
        curve: agreementCurve(col.score, col.correct, CURVE_POINTS),
      };
    }),
    inSampleBest: { macsPerSample: best.outcome.meanCost, agreement: best.outcome.agreement, exits: keptExits(best.policy).length },
  };
}
