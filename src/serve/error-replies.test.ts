import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { answerClientError } from './error-replies.ts';

/** A connection as answerClientError sees it: what it wrote, whether it was destroyed, the answer under way. */
function connection(answer: EventEmitter | null) {
  const socket = { written: [] as string[], destroyed: false, writable: true, _httpMessage: answer ?? undefined,
    write(text: string) { this.written.push(text); return true; },
    destroy() { this.destroyed = true; } };
  return socket;
}

/** An answer under way to a request that arrived whole. */
function answerUnderWay(): EventEmitter & { writableFinished: boolean; req: { complete: boolean }; headersSent: boolean } {
  return Object.assign(new EventEmitter(), { writableFinished: false, req: { complete: true }, headersSent: false });
}

const garbage = (): Error => Object.assign(new Error('Parse Error'), { code: 'HPE_INVALID_METHOD' });

describe('answerClientError', () => {
  it('refuses at once, and closes, when no answer is under way', () => {
    const socket = connection(null);
    answerClientError(garbage(), socket as unknown as Duplex);
    assert.equal(socket.written.length, 1);
    assert.match(socket.written[0]!, /^HTTP\/1\.1 400 Bad Request\r\n.*connection: close\r\n\r\n\{"error":"the request is not valid HTTP \(HPE_INVALID_METHOD\)"/s);
    assert.equal(socket.destroyed, true);
  });

  it('after answers under way to whole requests: waits for each in turn, then refuses once; later bytes add no listeners', async () => {
    const first = answerUnderWay();
    const socket = connection(first);
    // The parser raises it again for every chunk that arrives after the bad bytes.
    for (let i = 0; i < 30; i++) answerClientError(garbage(), socket as unknown as Duplex);
    assert.deepEqual([first.listenerCount('finish'), first.listenerCount('close')], [1, 1]);
    assert.deepEqual([socket.written.length, socket.destroyed], [0, false], 'nothing before the answer under way');
    // Node hands the connection to the next queued answer when one finishes.
    const second = answerUnderWay();
    first.writableFinished = true;
    socket._httpMessage = second;
    first.emit('finish');
    first.emit('close');
    await new Promise((r) => process.nextTick(r));
    assert.deepEqual([socket.written.length, socket.destroyed], [0, false], 'nor before the next one');
    assert.equal(second.listenerCount('finish'), 1);
    second.writableFinished = true;
    socket._httpMessage = undefined;
    second.emit('finish');
    await new Promise((r) => process.nextTick(r));
    assert.equal(socket.written.length, 1);
    assert.match(socket.written[0]!, /^HTTP\/1\.1 400 /);
    assert.doesNotMatch(socket.written[0]!, /x-request-id/, "the refusal is not the answered request's");
    assert.equal(socket.destroyed, true);
  });

  it('an answer closed before it finished (its client went away) closes the connection without a refusal', () => {
    const first = answerUnderWay();
    const socket = connection(first);
    answerClientError(garbage(), socket as unknown as Duplex);
    first.emit('close');
    assert.deepEqual([socket.written.length, socket.destroyed], [0, true]);
  });

  it('a request that has not arrived whole (its own body is what failed to parse) is refused at once', () => {
    const first = answerUnderWay();
    first.req.complete = false;
    const socket = connection(first);
    answerClientError(garbage(), socket as unknown as Duplex);
    assert.deepEqual([socket.written.length, socket.destroyed], [1, true]);
  });
});
