/**
 * The short commit of the checkout a benchmark runs in, recorded beside its figures.
 * Outside a git checkout (a copied tree) there is no commit to record: 'unknown'.
 */
import { execSync } from 'node:child_process';

export function headCommit(root: string): string {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}
