/** Where the CLI writes. Invariant: commands never touch process.stdout directly, so tests can capture output. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** True when stderr is a terminal (progress bars only then). */
  readonly isTty: boolean;
  /**
   * Ends the process at once by `signal`'s default action (main: its handlers removed, the signal raised again), so
   * that the shell sees 128 + its number; process.exit would first wait for onnxruntime's and libuv's threads, one
   * of which may be blocked for good (opening a FIFO no one writes). Absent in tests, where the caller returns.
   */
  readonly killBySignal?: (signal: NodeJS.Signals) => void;
}
