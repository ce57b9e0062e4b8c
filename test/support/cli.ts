/** Runs the CLI in-process and captures its output. */
import { runCli } from '../../src/cli/index.ts';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function cli(...argv: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { out: (s) => void (stdout += s), err: (s) => void (stderr += s), isTty: false }, {});
  return { code, stdout, stderr };
}
