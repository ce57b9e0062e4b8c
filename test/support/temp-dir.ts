/**
 * Temporary directories for tests, removed when the test file's process exits, whether its tests passed or not
 * (node:test runs each file in its own process). A build test leaves about 60 MB behind otherwise.
 */
import { rmSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A new empty directory under the system's temporary directory, named layercache-NAME-…. */
export async function tempDir(name: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `layercache-${name}-`));
  made.push(dir);
  return dir;
}
