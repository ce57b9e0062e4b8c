/** Public surface of the bundle module: the manifest schema and atomic, validated bundle I/O. */
export { ManifestSchema, PreprocessSchema, HeadSpecSchema, type Manifest, type ExitEntry, type ScoreSpec, type CandidateEntry } from './manifest.ts';
export { saveBundle, loadBundle, requireLoadedBundle, hasManifest, bundlePaths, MANIFEST_FILE, BUNDLE_OUTPUT, type LoadedBundle, type BundleFiles, type SaveBundleOptions } from './bundle-io.ts';
