/**
 * Process entry of the `layercache` bin. Invariant: the only place that sets the
 * process exit status; it uses exitCode (not exit()) so piped output is flushed, except
 * through `killBySignal`, which ends an interrupted command, a stopped server start-up and a server
 * shutdown past its timeout by the signal received (exit status 128 + its number).
 */
import { runCli } from './program.ts';
import { processWriter } from './stdout.ts';

export async function main(): Promise<void> {
  // A closed pipe (`layercache inspect … | head`, a log collector gone) ends that output, not the
  // process: the command runs to its end (a server keeps serving and still shuts down properly;
  // exiting here would skip the shutdown, and abort it if a retrain runs). Any other failure to write
  // fails the exit status (stdout.ts).
  let late: Error | null = null;
  const lateError = (e: Error): void => {
    late ??= e;
  };
  const out = processWriter(process.stdout, 1, 'standard output', lateError);
  const err = processWriter(process.stderr, 2, 'standard error', lateError);
  const code = await runCli(process.argv.slice(2), {
    out,
    // A failing stderr cannot report anything: it must not fail the command it reports on.
    err: (s) => {
      try {
        err(s);
      } catch {
        // Nothing left to tell it on.
      }
    },
    isTty: Boolean(process.stderr.isTTY),
    killBySignal: (signal) => {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    },
  });
  if (late !== null && code === 0) {
    try {
      err(`layercache: error FILE_WRITE_FAILED: ${(late as Error).message}\n`);
    } catch {
      // stderr is the stream that failed.
    }
    process.exitCode = 1;
    return;
  }
  process.exitCode = code;
}
