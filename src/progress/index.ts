/** Public surface of the progress module. */
export { type Progress, type ProgressPhase, SILENT, withPhase, requireProgress } from './progress.ts';
