/** Where the CLI writes. Invariant: commands never touch process.stdout directly, so tests can capture output. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** True when stderr is a terminal (progress bars only then). */
  readonly isTty: boolean;
}
