/** Public surface of the tensor module: a plain, runtime-independent tensor value, seeded randomness, percentiles and set percentages. */
export { type DType, type Tensor, type TypedArrayOf, numel, unusableScoresRow, bytesPerElement, allocate, tensor, sliceRows } from './tensor.ts';
export { type Rng, seededRng, randomNormal, shuffleInPlace } from './random.ts';
export { percentile } from './percentile.ts';
export { finiteInput, firstNonFinite } from './finite.ts';
export { lowerOrHigher, savedOrMore, signedPct } from './saving-words.ts';
export { setPercent, targetAgreementPct } from './set-percent.ts';
export { halfToFloat, bfloat16ToFloat, roundToHalf, roundToBfloat16, floatValues } from './float-bits.ts';
