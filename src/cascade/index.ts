/** Public surface of the cascade module: the early-exit runtime. */
export { Cascade, fuseHead, fusedHeadOutput, gatherRows, type CascadeRow, type CascadeExit, type CascadeUse } from './cascade.ts';
export { softmaxRow } from './confidence.ts';
