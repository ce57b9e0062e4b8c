/** Public surface of the evaluate module: backbone vs bundle, measured side by side. */
export { evaluateBundle, type EvalReport, type EvalOptions } from './evaluate.ts';
export { type SystemFigures, type CachedFigures, type LatencyStats } from './side-by-side.ts';
export { headroomOf, type Headroom, type HeadroomInput } from './headroom.ts';
export { type PairedSaving } from './paired-saving.ts';
