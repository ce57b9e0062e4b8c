#!/usr/bin/env node
// The `layercache` command. In a checkout it runs the TypeScript sources through tsx (no
// build step); an installed package has only the compiled `dist/` and runs that.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const sources = new URL('../src/cli/index.ts', import.meta.url);
const compiled = new URL('../dist/cli/index.js', import.meta.url);
/** tsx is a development dependency: a checkout installed without them runs dist/ if it was built. */
async function tsxApi() {
  try {
    return await import('tsx/esm/api');
  } catch (err) {
    if (existsSync(compiled)) return null;
    throw err;
  }
}
const tsx = existsSync(sources) ? await tsxApi() : null;
let cli;
if (tsx) {
  tsx.register();
  cli = await import(sources.href);
} else {
  cli = await import(compiled.href);
}
await cli.main();
