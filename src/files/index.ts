/** Public surface of the files module: atomic writes, whole reads of a byte range, regular-file checks, and content digests. */
export { writeFileAtomic, writeDirAtomic, checkOutputDir, checkOutputFile, isOsLitter, type OutputKind, type OutputFileKind } from './atomic-write.ts';
export { readFully } from './read-fully.ts';
export { sha256 } from './digest.ts';
export { isWithin, realPath } from './within.ts';
export { tempSibling, parseTempSibling, otherProcessAlive, removeStaleTemps } from './temp-siblings.ts';
export { nonRegularKind, notRegularFile } from './regular-file.ts';
export { removeUnfinishedWritesSync } from './temp-siblings.ts';
