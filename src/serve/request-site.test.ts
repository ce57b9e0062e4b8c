import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostCheckOf, isLoopbackHost, siteProblem, unusedAllowedHostsWarning } from './request-site.ts';

describe('request-site', () => {
  it('loopback: 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost names, as --host values or Host names', () => {
    for (const h of ['127.0.0.1', '127.0.1.1', 'localhost', 'LOCALHOST', 'localhost.', 'api.localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', ' 127.0.0.1 ', '::ffff:7f00:1', '0::1', '[0000::0001]', '::0:1', '::1%lo']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.1.2.3', 'myhost', '128.0.0.1', '::2', 'localhost.example', '::ffff:10.0.0.1', '::ffff:a00:1', '127.0.0.1.example', 'fe80::1%eth0']) assert.equal(isLoopbackHost(h), false, h);
  });

  it('checks Host only on loopback without a token: beyond loopback it cannot know its names, and a page cannot send the token', () => {
    assert.equal(hostCheckOf('0.0.0.0', null, []), null);
    assert.equal(hostCheckOf('127.0.0.1', 'a-token-of-16-characters', []), null);
    assert.deepEqual([...hostCheckOf('127.0.0.1', null, ['API.example.com.', '[::2]', '0:0::3'])!], ['api.example.com', '::2', '::3']);
    assert.equal(siteProblem('same-site', 'anything.example', null, () => 'GET /')?.code, 'CROSS_SITE_REFUSED', 'Fetch Metadata is checked whatever the Host');
  });

  it('warns when --allowed-host names are given to a server that checks no Host, saying why', () => {
    assert.equal(unusedAllowedHostsWarning('127.0.0.1', null, ['api.example.com']), null);
    assert.equal(unusedAllowedHostsWarning('0.0.0.0', null, []), null);
    assert.match(unusedAllowedHostsWarning('127.0.0.1', 'a-token-of-16-characters', ['api.example.com'])!, /^--allowed-host api\.example\.com \(serve\.allowedHosts\) has no effect: .*a token is set .*; drop --allowed-host$/);
    assert.match(unusedAllowedHostsWarning('0.0.0.0', null, ['a.example', 'b.example'])!, /^--allowed-host a\.example,b\.example \(serve\.allowedHosts\) has no effect: .*--host 0\.0\.0\.0 is not loopback only/);
  });

  it('answers the names given beside loopback ones, any port, any case; refuses others naming the fixes', () => {
    const check = hostCheckOf('127.0.0.1', null, ['api.example.com'])!;
    for (const h of ['api.example.com', 'API.EXAMPLE.COM:443', 'api.example.com.', 'localhost:8080', '[::1]:80']) assert.equal(siteProblem(undefined, h, check, () => 'GET /'), null, h);
    assert.deepEqual([...hostCheckOf('::1%lo', null, ['fe80::1%eth0'])!], ['fe80::1%eth0'], 'zone ids are kept as given');
    assert.equal(siteProblem(undefined, '[0:0::3]:8080', hostCheckOf('127.0.0.1', null, ['::3']), () => 'GET /'), null, 'IPv6 spellings compare canonically');
    const refused = siteProblem(undefined, 'evil.example', check, () => 'GET /v2');
    assert.equal(refused?.code, 'HOST_NOT_SERVED');
    assert.match(refused!.message, /^GET \/v2 names host 'evil\.example', but this server listens on loopback only, has no token, and answers loopback names \(localhost, 127\.0\.0\.1, \[::1\]\) and api\.example\.com; .*add --allowed-host with the name it forwards \(or have it send Host: localhost\), or set --token$/);
  });

  it('HTTP/1.0 without a Host passes; a malformed Host is refused, clipped in the message', () => {
    const check = hostCheckOf('localhost', null, [])!;
    assert.equal(siteProblem(undefined, undefined, check, () => 'GET /'), null);
    assert.equal(siteProblem(undefined, 'a:b:c', check, () => 'GET /')?.code, 'HOST_NOT_SERVED');
    assert.equal(siteProblem(undefined, `${'a'.repeat(100)}.example`, check, () => 'GET /')?.message.includes('a'.repeat(65)), false);
  });
});
