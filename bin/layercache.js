#!/usr/bin/env node
// The `layercache` command. In a checkout it runs the TypeScript sources through tsx (no
// build step); an installed package has only the compiled `dist/` and runs that.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const sources = new URL('../src/cli/index.ts', import.meta.url);
let cli;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(sources.href);
} else {
  cli = await import('../dist/cli/index.js');
}
await cli.main();
