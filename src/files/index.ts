/** Public surface of the files module: atomic writes. */
export { writeFileAtomic, writeDirAtomic } from './atomic-write.ts';
