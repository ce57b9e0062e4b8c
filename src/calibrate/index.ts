/** Public surface of the calibrate module: scores, policies, selection, bounds and baselines. */
export { type CalibrationTable, type CascadeCosts, type ExitColumn, type Policy, type PolicyOutcome, NEVER, simulate, keptExits, meanCascadeCost } from './policy.ts';
export { selectPolicy, paretoFront, isFeasible, validateTolerance, type SelectOptions, type Selection, type ParetoPoint } from './select.ts';
export { optimizeForLambda, optimizeForBudget } from './threshold-search.ts';
export { clopperPearsonUpper, clopperPearsonLower, incompleteBeta } from './bounds.ts';
export { paperRule, oracleCost, globalThresholdPolicy } from './baselines.ts';
export { agreementCurve, answerableShare, inSampleSelection } from './headroom.ts';
export {
  type ScoreKind, type RowScore, scoreRow, scoresFor, argmaxRows, maxScore, marginScore, fitTemperature, scoreOfMaxProbability, thresholdCondition,
} from './scores.ts';
