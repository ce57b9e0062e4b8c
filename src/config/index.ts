/** Public surface of the config module: the one configuration schema. */
export { ConfigSchema, GRAPH_OPTIMIZATIONS, MAX_AUGMENTED_COPIES, MAX_THREADS, validConfig, minBuildSamples, parseConfig, loadConfig, deriveConfig, type Config, type ConfigInput, type BuildConfig, type PreprocessConfig, type ServeConfig, type OnlineConfig, type LoadOptions } from './config.ts';
export { parseDecimal } from './decimal.ts';
