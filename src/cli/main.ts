/**
 * Process entry of the `layercache` bin. Invariant: the only place that sets the
 * process exit status; it uses exitCode (not exit()) so piped output is flushed, except
 * through `exitNow`, which a server shutdown past its timeout calls.
 */
import { runCli } from './program.ts';

export async function main(): Promise<void> {
  // A closed pipe (`layercache inspect … | head`) ends the output, not the process with a crash.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  const code = await runCli(process.argv.slice(2), {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    isTty: Boolean(process.stderr.isTTY),
    exitNow: (code) => process.exit(code),
  });
  process.exitCode = code;
}
