/**
 * Process entry of the `layercache` bin. Invariant: the only place that sets the
 * process exit status; it uses exitCode (not exit()) so piped output is flushed, except
 * through `exitNow`, which a server shutdown past its timeout calls.
 */
import { runCli } from './program.ts';

export async function main(): Promise<void> {
  // A closed pipe (`layercache inspect … | head`, a log collector gone) ends that output, not the
  // process: the command runs to its end (a server keeps serving and still shuts down properly;
  // exiting here would skip the shutdown, and abort it if a retrain runs).
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      stream.write = (() => true) as typeof stream.write;
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
