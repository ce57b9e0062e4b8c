import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CODES } from './error-codes.ts';

describe('docs/errors.md', () => {
  it('lists exactly the error codes in the code, with their HTTP status, exit code and meaning', () => {
    const doc = readFileSync(path.resolve(import.meta.dirname, '../../docs/errors.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (\d) \| (.*) \|$/gm)].map((m) => [m[1], Number(m[2]), Number(m[3]), m[4]]);
    // The meanings too: ERROR_CODES is public, and a program may show them.
    const expected = Object.entries(ERROR_CODES).map(([k, v]) => [k, v.httpStatus, v.exitCode, v.meaning]);
    assert.deepEqual(rows.sort(), expected.sort());
    for (const code of Object.keys(ERROR_CODES)) assert.match(doc, new RegExp(`^- \`${code}\``, 'm'), `no fix documented for ${code}`);
  });
});
