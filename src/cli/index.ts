/** Public surface of the cli module. */
export { runCli } from './program.ts';
export { main } from './main.ts';
export type { CliIo } from './io.ts';
