/** Public surface of the files module: atomic writes. */
export { writeFileAtomic, writeDirAtomic, checkOutputDir } from './atomic-write.ts';
