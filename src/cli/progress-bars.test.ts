import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../config/index.ts';
import { terminalProgress } from './progress-bars.ts';

describe('terminalProgress', () => {
  it('on a dumb terminal prints one plain line per finished phase, no bar redrawn with escape codes', () => {
    let err = '';
    const progress = terminalProgress({ out: () => {}, err: (s) => void (err += s), isTty: true }, loadConfig({}, { TERM: 'dumb' }));
    const phase = progress.phase('collect', 3);
    phase.tick(1, 'a');
    phase.tick(2);
    phase.end();
    assert.match(err, /^collect: done in \d+\.\d s\n$/);
    assert.ok(!err.includes('\u001b'), 'no escape code');
  });
});
