/**
 * Request-parser worker thread: parses large inference request bodies off the main thread, so that a body of
 * tens of megabytes (JSON.parse and the walk over its values take up to seconds) never stalls the event loop,
 * which answers health checks and every other client meanwhile.
 * Invariants: messages are handled one after another; every request gets exactly one reply with its id; the
 * parsed tensors' memory is transferred, not copied; an error goes back as its code and message.
 */
import { parentPort } from 'node:worker_threads';
import { reportOf } from './remote-error.ts';
import type { ParseReply, ParseRequest } from './messages.ts';
import { parseInferRequest } from './protocol.ts';

const port = parentPort!;

port.on('message', (m: ParseRequest) => {
  let reply: ParseReply;
  try {
    const request = parseInferRequest(m.body, m.headerLength, m.spec);
    reply = { kind: 'parsed', id: m.id, request };
    port.postMessage(reply, request.inputs.map((i) => i.data.buffer as ArrayBuffer));
  } catch (err) {
    reply = { kind: 'error', id: m.id, ...reportOf(err) };
    port.postMessage(reply);
  }
});
