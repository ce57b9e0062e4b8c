/** Public surface of the files module: atomic writes, and whole reads of a byte range. */
export { writeFileAtomic, writeDirAtomic, checkOutputDir, checkOutputFile, tempSibling, parseTempSibling, type ReplaceOptions } from './atomic-write.ts';
export { readFully } from './read-fully.ts';
