/** Public surface of the files module: atomic writes. */
export { writeFileAtomic, writeDirAtomic, checkOutputDir, checkOutputFile, tempSibling, parseTempSibling } from './atomic-write.ts';
