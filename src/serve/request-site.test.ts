import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listensOnLoopbackOnly, siteProblem } from './request-site.ts';

describe('request-site', () => {
  it('loopback-only listening addresses: 127.0.0.0/8, ::1 and localhost, not the wildcard or other addresses', () => {
    for (const h of ['127.0.0.1', '127.0.1.1', 'localhost', 'LOCALHOST', '::1', '[::1]']) assert.equal(listensOnLoopbackOnly(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.1.2.3', 'myhost', '128.0.0.1', '::2']) assert.equal(listensOnLoopbackOnly(h), false, h);
  });

  it('a server listening on other addresses checks no Host (it cannot know its names)', () => {
    assert.equal(siteProblem(undefined, 'anything.example', false, 'GET /'), null);
    assert.equal(siteProblem('same-site', 'anything.example', false, 'GET /')?.code, 'CROSS_SITE_REFUSED');
  });

  it('HTTP/1.0 without a Host passes; a malformed Host is refused', () => {
    assert.equal(siteProblem(undefined, undefined, true, 'GET /'), null);
    assert.equal(siteProblem(undefined, 'a:b:c', true, 'GET /')?.code, 'HOST_NOT_SERVED');
    assert.equal(siteProblem(undefined, `${'a'.repeat(100)}.example`, true, 'GET /')?.message.includes('a'.repeat(65)), false, 'the host is clipped in the message');
  });
});
