/** Public surface of the cascade module: the early-exit runtime. */
export { Cascade, fuseHead, gatherRows, type CascadeRow, type CascadeExit } from './cascade.ts';
export { scoreRow, softmaxRow, type RowScore } from './confidence.ts';
