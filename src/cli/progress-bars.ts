/**
 * Renders library progress for the terminal: cli-progress bars on a TTY, one line per
 * finished phase otherwise (CI logs and TERM=dumb stay readable). Invariant: writes only to stderr,
 * so --json output on stdout stays clean.
 */
import cliProgress from 'cli-progress';
import type { Config } from '../config/index.ts';
import type { Progress, ProgressPhase } from '../progress/index.ts';
import type { CliIo } from './io.ts';

export function terminalProgress(io: CliIo, config: Pick<Config, 'color' | 'progressBars'>): Progress {
  return {
    note: (text) => io.err(`${text}\n`),
    phase: (label, total): ProgressPhase => {
      const started = performance.now();
      if (!io.isTty || !config.progressBars) {
        return {
          tick: () => {},
          end: () => io.err(`${label}: done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`),
        };
      }
      const bar = new cliProgress.SingleBar({
        format: `${label.padEnd(18)} {bar} {percentage}% | {value}/{total} | {duration_formatted} | {status}`,
        barCompleteChar: config.color ? '\u2588' : '#',
        barIncompleteChar: config.color ? '\u2591' : '-',
        hideCursor: true,
        stream: process.stderr,
        clearOnComplete: false,
      });
      bar.start(total, 0, { status: '' });
      return {
        tick: (units = 1, status = '') => bar.increment(units, { status }),
        end: () => bar.stop(),
      };
    },
  };
}
