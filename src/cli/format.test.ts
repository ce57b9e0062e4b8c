import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { curlLine, formatMacsSaving, formatProbability, openHostWarning, plural } from './format.ts';

describe('MACs savings', () => {
  it('say more MACs for heads that cost more than their exits save, never a negative saving', () => {
    assert.equal(formatMacsSaving(0.144), 'saved 14.4%');
    assert.equal(formatMacsSaving(-0.002), "0.2% more than the backbone's");
  });
});

describe('formatProbability', () => {
  it('keeps five decimals until they would round to 1, then says how far below 1 it is', () => {
    assert.equal(formatProbability(0.45), '0.45000');
    assert.equal(formatProbability(0.99994), '0.99994');
    assert.equal(formatProbability(0.9999995057), '1 − 4.9e-7');
    assert.equal(formatProbability(1), '1.00000');
  });
});

describe('plural', () => {
  it('adds an s except for one', () => {
    assert.deepEqual([0, 1, 2].map((n) => plural(n, 'exit')), ['0 exits', '1 exit', '2 exits']);
  });
});

describe('openHostWarning', () => {
  it('warns for a host beyond this machine without a token, and only then', () => {
    for (const h of ['127.1.2.3', 'localhost', '[::1]', '::ffff:127.0.0.1']) assert.equal(openHostWarning(h, null), null, h);
    assert.match(openHostWarning('0.0.0.0', null)!, /--host 0\.0\.0\.0 lets other machines reach the server, and no token is set/);
    assert.equal(openHostWarning('0.0.0.0', 'a-long-enough-token'), null);
    assert.equal(openHostWarning('127.0.0.1', null), null);
  });
});

describe('curlLine', () => {
  it('names the Authorization header when the server has a token, never the token itself', () => {
    assert.equal(curlLine('http://h/v2', null), '  curl -s http://h/v2\n');
    const line = curlLine('http://h/v2', 'secret-token-0123456789');
    assert.match(line, /^ {2}curl -s -H "Authorization: Bearer TOKEN" http:\/\/h\/v2 {3}# TOKEN: the --token or LAYERCACHE_TOKEN value\n$/);
    assert.ok(!line.includes('secret'));
  });
});
