/**
 * What a build needs of its model and data, checked before any work, each refusal naming the value and the fix:
 * a classifier layercache can cache (checkClassifier), float32 activations at the exits (heads read float32),
 * at least one exit, enough samples for the folds, and samples of the model's input shape.
 */
import { minBuildSamples } from '../config/index.ts';
import { requireSampleDims, type DataSource } from '../data/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { checkClassifier, type ModelAnalysis } from '../inspect/index.ts';

/** a: the analysis of the model as read; scores: the name of its scores output in the model as given, for messages. */
export function checkBuildable(a: ModelAnalysis, scores: string, modelFile: string, data: DataSource, folds: number): void {
  checkClassifier(a, modelFile, scores);
  const notFloat = a.exits.find((e) => a.tensor(e.tensor)?.dtype !== 'float32');
  if (notFloat) {
    throw new LayercacheError('MODEL_UNSUPPORTED', `${modelFile}: candidate exit '${notFloat.tensor}' holds ${a.tensor(notFloat.tensor)?.dtype} activations; heads read float32: convert the model to compute in float32 (its inputs and outputs may keep other types)`);
  }
  checkData(a, data, folds);
  if (a.exits.length === 0) {
    throw new LayercacheError('NO_EXITS', `${modelFile} has no candidate exits (no single-tensor cut point), so no heads can be attached`);
  }
}

function checkData(a: ModelAnalysis, data: DataSource, folds: number): void {
  const least = minBuildSamples(folds);
  if (data.count < least) {
    throw new LayercacheError('DATA_SPEC_INVALID', `data '${data.description}' gives ${data.count} samples; a build with ${folds} folds needs at least ${least} (thousands choose thresholds well); give more samples (a wider range or more files; a sample that repeats counts once)`);
  }
  requireSampleDims(data, a.inputs[0]!.dims.slice(1), `the model input '${a.inputs[0]!.name}'`, 'check the layout (--layout) or the data spec');
}
