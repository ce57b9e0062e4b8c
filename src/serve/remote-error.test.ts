import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { fromReport, reportOf } from './remote-error.ts';

describe('errors across a worker boundary', () => {
  it('keep their code and the stack where they arose, as the rebuilt error\'s cause', () => {
    const bug = (): never => {
      throw new TypeError('x is undefined');
    };
    let thrown: unknown;
    try {
      bug();
    } catch (err) {
      thrown = err;
    }
    // A plain error becomes INTERNAL; its own stack, not the wrapper's, is what is reported.
    const report = structuredClone(reportOf(thrown));
    assert.equal(report.code, 'INTERNAL');
    assert.match(report.stack!, /TypeError: x is undefined\n\s+at bug /);
    const rebuilt = fromReport(report, `retrain of version 3 failed: ${report.message}`);
    assert.ok(rebuilt instanceof LayercacheError && rebuilt.code === 'INTERNAL');
    assert.equal(rebuilt.message, 'retrain of version 3 failed: x is undefined');
    assert.equal((rebuilt.cause as Error).stack, report.stack);
    // A coded error keeps its code; a code this side does not know is WORKER_FAILED; no stack, no cause.
    assert.equal(fromReport(reportOf(new LayercacheError('SOURCE_CHANGED', 'm'))).code, 'SOURCE_CHANGED');
    const unknown = fromReport({ code: 'NOT_A_CODE', message: 'm', stack: undefined });
    assert.equal(unknown.code, 'WORKER_FAILED');
    assert.equal(unknown.cause, undefined);
    assert.equal(fromReport({ code: 'toString', message: 'm', stack: undefined }).code, 'WORKER_FAILED', 'not a code: inherited by every object');
    // The cause carries the stack, not the message again (log lines repeated it once per level).
    assert.doesNotMatch((rebuilt.cause as Error).message, /x is undefined/);
  });

  it('never throws, and reports only what can cross: odd stacks and odd thrown values', () => {
    const hostile = new Error('hostile');
    Object.defineProperty(hostile, 'stack', { get: () => { throw new Error('no stack for you'); } });
    const odd = Object.assign(new Error('odd'), { stack: () => 'a function' });
    const wrapped = new LayercacheError('SOURCE_CHANGED', 'wrapped', { cause: new RangeError('inner') });
    for (const thrown of [hostile, odd, Object.create(null) as object, Symbol('s'), 42, null, wrapped]) {
      const report = reportOf(thrown);
      // Each crosses a thread or process boundary as it is: a function or a throwing getter would not.
      assert.deepEqual(structuredClone(report), report);
      assert.ok(typeof report.stack === 'string' || report.stack === undefined);
    }
    // One of ours with a cause: where it was raised, and where its cause arose.
    assert.match(reportOf(wrapped).stack!, /^LayercacheError: wrapped\n[\s\S]*\ncaused by: RangeError: inner\n/);
    assert.equal(reportOf(Object.create(null) as object).code, 'INTERNAL');
  });
});
