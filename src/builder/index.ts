/** Public surface of the builder module: from a model and unlabeled data to a bundle. */
export { buildCascade, type BuildInput, type BuildResult } from './build.ts';
export { whyNoExit, type BuildReport, type PolicySummary } from './build-report.ts';
export { type DeployedDrop } from './deployed-check.ts';
export { collectFeatures, buildFeatureProbe, type FeatureSet, type ExitInfo } from './collect.ts';
export { trainHeads, predictHeads, type HeadJob, type TrainSettings, type TrainResult } from './train-heads.ts';
export { measureCascade, measureLatency, timeAlternating, type CandidateCut, type LatencyCosts } from './measure.ts';
export {
  checkLatencyProfileFile, readLatencyProfile, refuseForeignProfile, writeLatencyProfile, withLatencyProfileFile, type LatencyProfile, type ProfileReading,
} from './latency-profile.ts';
export { recordedBuildConfig } from './build-settings.ts';
