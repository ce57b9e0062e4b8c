/**
 * The HTTP surface: Open Inference Protocol v2 (KServe v2) REST routes, a classify route
 * for images, a cache-status route and Prometheus metrics, on Fastify.
 * Invariants: every error answer is `{ "error": message, "code": CODE }` with the status of
 * its code; a request id (from `x-request-id`, or generated) is logged with each request
 * and echoed in the `x-request-id` header; handlers never run onnxruntime themselves; a
 * request accepted while ready (its headers arrived) is served to the end, also during a
 * shutdown, and every other inference during a shutdown is 503 NOT_READY before its body is read.
 */
import { randomBytes } from 'node:crypto';
import multipart from '@fastify/multipart';
import type { Logger } from 'pino';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { decodeImage, type ImageSize, type Preprocess } from '../data/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { unusableScoresRow } from '../tensor/index.ts';
import type { AcceptedRequests } from './accepted-requests.ts';
import { answerClientError, asProtocolError, sendError } from './error-replies.ts';
import { hostCheckOf, siteProblem, unusedAllowedHostsWarning } from './request-site.ts';
import { refuseLingeringRequests } from './lingering-close.ts';
import { bearerCheck, PUBLIC_ROUTES } from './bearer-auth.ts';
import { ACCEPTED_ENCODINGS, bodyOf, BROWSER_SIMPLE_TYPES, decodeBody, mediaTypeOf, pathOf } from './request-body.ts';
import type { DynamicBatcher, RowsResult } from './batcher.ts';
import type { ServerMetrics } from './metrics.ts';
import type { OnlineLearner } from './online.ts';
import { guardRequestHeads } from './http-guards.ts';
import { OUTPUTS, outputTensors } from './served-outputs.ts';
import { answeredAs, modelOf, type Served } from './version-pin.ts';
import { PARSE_INLINE_BYTES, RequestParser } from './request-parser.ts';
import { Slots } from './slots.ts';
import { CLASSIFY_MAX_DECODED_BYTES, CLASSIFY_MAX_PIXELS, DECODE_SLOTS, isJpegOrPng, MULTIPART_FIELDS, multipartImage, notImageHint } from './classify-input.ts';
import { clip, encodeInferResponse, HEADER_LENGTH } from './protocol.ts';

/** Routes whose failures layercache_inference_request_failure counts. */
const INFERENCE_ROUTE = /^\/v2\/models\/:name(\/versions\/:version)?\/(infer|classify)$/;

export interface ModelInfo {
  readonly name: string;
  readonly inputName: string;
  /** Per-sample input dims (no batch). */
  readonly sampleDims: readonly number[];
  readonly classes: number;
  readonly preprocess: Preprocess | null;
  /** Image size the classify route decodes to, when the input is an image. */
  readonly imageSize: ImageSize | null;
  readonly labels: readonly string[];
}

export interface AppDeps {
  readonly model: ModelInfo;
  readonly batcher: DynamicBatcher;
  readonly metrics: ServerMetrics;
  readonly online: OnlineLearner;
  readonly serverVersion: string;
  /** Started and not shutting down. */
  readonly isReady: () => boolean;
  /** At least one engine worker runs (one that failed may be being replaced). */
  readonly engineRunning: () => boolean;
  /** Requests accepted (their headers arrived while ready) and not yet answered: a shutdown serves them. */
  readonly accepted: AcceptedRequests;
  readonly limits: { readonly bodyLimitBytes: number; readonly maxRequestRows: number; readonly requestTimeoutMs: number; readonly topK: number };
  /** The pino logger requests log to (with their request id). */
  readonly logger: Logger;
  /** Bearer token every route but health and metrics requires; null = none. */
  readonly token: string | null;
  /** The address the server listens on (--host): on loopback only and without a token, requests must name a loopback host or one of allowedHosts. */
  readonly listenHost: string;
  readonly allowedHosts: readonly string[];
}

function notReady(): LayercacheError {
  return new LayercacheError('NOT_READY', 'the server is not ready (starting or shutting down); wait for GET /v2/health/ready to return 200');
}

let requestCounter = 0;

/** Generated request ids start with this, drawn per process, so that ids of restarts and replicas do not collide in logs. */
const PROCESS_TAG = randomBytes(4).toString('hex');

/** The longest model name or version the router reads from a path (names have at most 128 characters, config.ts). */
const MAX_PATH_PARAM = 256;

/**
 * How often Node looks for requests that outlived their timeouts: its default, 30 s, let a stalled upload hold a
 * connection for a minute past a 2 s --timeout-ms. A quarter of the timeout, within [50 ms, 1 s].
 */
function connectionsCheckingIntervalMs(requestTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(requestTimeoutMs / 4)));
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { model, metrics, batcher, online } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.limits.bodyLimitBytes,
    requestTimeout: deps.limits.requestTimeoutMs,
    // Node's own header timeout (60 s) and checking interval (30 s) would otherwise outlast --timeout-ms.
    http: {
      headersTimeout: Math.min(60_000, deps.limits.requestTimeoutMs),
      // A missing Host is refused in the protocol's error shape (http-guards.ts), not with Node's empty 400.
      requireHostHeader: false,
      connectionsCheckingInterval: connectionsCheckingIntervalMs(deps.limits.requestTimeoutMs),
    },
    // During a shutdown the routes answer NOT_READY themselves (in the protocol's error shape), and serve accepted requests.
    return503OnClosing: false,
    // Fastify's and Node's own refusals answer in the protocol's error shape too.
    // A path part over the router's limit can only be a model name or version, longer than any served (404, as for any
    // other model); a malformed percent-encoding is the client's error (400).
    frameworkErrors: (error, req, reply) => void sendError(reply.header('x-request-id', req.id), error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new LayercacheError('MODEL_NOT_FOUND', `the URL path '${clip(pathOf(req.url))}' names a model or version of over ${MAX_PATH_PARAM} characters, which is not served here; this server serves '${model.name}'`, { cause: error })
      : new LayercacheError('INFER_REQUEST_INVALID', `the URL path '${clip(pathOf(req.url))}' cannot be routed (a malformed percent-encoding); check the URL`, { cause: error })),
    clientErrorHandler: answerClientError,
    // The client's x-request-id when it is a plausible id (it goes into every log line of the request), else one of ours.
    requestIdHeader: false,
    // A model name may have 128 characters (config); the router's default limit, 100, left longer ones unreachable.
    routerOptions: { maxParamLength: MAX_PATH_PARAM },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\x21-\x7e]{1,128}$/.test(given) ? given : `req-${PROCESS_TAG}-${(++requestCounter).toString(36)}`;
    },
    logController: new LogController({ disableRequestLogging: !deps.logger.isLevelEnabled('debug') }),
  });
  const served: Served = { name: model.name, servingVersion: () => online.servingVersion };
  /** The queue's refusal of even a one-row request, when it is full. */
  const queueFull = (): LayercacheError | null => {
    // Its rows are not known yet (the body is not read): the queue is full when not one more row fits.
    const refused = batcher.refusal(null);
    return refused?.code === 'QUEUE_FULL' ? refused : null;
  };
  const refuseWhenFull = (): void => {
    const refused = queueFull();
    if (refused) throw refused;
  };
  const decodeSlots = new Slots(DECODE_SLOTS);
  // The worker's heap: a body's text, its parsed numbers (8 bytes each, about a third of the text's bytes) and more.
  const parserHeapMb = Math.max(512, Math.ceil((8 * deps.limits.bodyLimitBytes) / 2 ** 20));
  const parser = new RequestParser({ inputName: model.inputName, sampleDims: model.sampleDims, maxRows: deps.limits.maxRequestRows, outputs: OUTPUTS }, PARSE_INLINE_BYTES, parserHeapMb);
  app.addHook('onClose', () => parser.close());
  refuseLingeringRequests(app);
  // A classify body is one image: a few small fields beside it at most, so that a body of many fields cannot grow
  // past --body-limit (the body limit does not cover multipart streams; their declared length is checked below).
  await app.register(multipart, { limits: { files: 1, fileSize: deps.limits.bodyLimitBytes, fields: MULTIPART_FIELDS, fieldSize: 64 * 1024, parts: MULTIPART_FIELDS + 1, headerPairs: 64 } });
  // Every body arrives as bytes whatever its content type, or with none (tritonclient and KServe's client send
  // none, and Triton takes any); each route decides what it reads. multipart/form-data keeps its own parser.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // Every route's path pattern and methods, for the 405 answer of the not-found handler.
  const routes: { pattern: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    routes.push({ pattern: new RegExp(`^${r.url.replace(/:[^/]+/g, '[^/]+')}$`), methods });
  });
  app.addHook('onRequest', async (req, reply) => {
    // On the response from its start: an answer Node writes itself (a body that stalls past --timeout-ms) carries it too.
    reply.raw.setHeader('x-request-id', req.id);
    // A connection closed before the answer was all sent (the client gave up, or Node answered a stalled body with a
    // 408 itself): its time counts too, or under overload the slowest requests would drop out of the histogram.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished && INFERENCE_ROUTE.test(req.routeOptions.url ?? '')) {
        metrics.requestSeconds.observe({ model: model.name, outcome: 'aborted' }, reply.elapsedTime / 1000);
      }
    });
    if (!deps.isReady()) {
      // Not accepted: an inference arriving during a shutdown is refused before its body is read or decoded.
      if (INFERENCE_ROUTE.test(req.routeOptions.url ?? '')) throw notReady();
      return;
    }
    deps.accepted.accept(req, (req.raw.socket as typeof req.raw.socket | undefined) ?? null);
    // 'close' comes once the answer is sent, and also when the client goes away first.
    reply.raw.once('close', () => deps.accepted.release(req));
  });
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
    // While shutting down, a keep-alive connection is closed after its answer (else it would hold the listener
    // open until the client's idle timeout), unless accepted requests are pipelined behind it on that connection.
    if (!deps.isReady() && !deps.accepted.othersOnConnection(req)) reply.header('connection', 'close');
  });
  // A web page can make a browser send requests here (forms and simple requests need no preflight): its inputs would
  // run and feed the online learner. Pages of other origins, and pages reaching a loopback server under a rebound name,
  // are refused (request-site.ts).
  const hostCheck = hostCheckOf(deps.listenHost, deps.token, deps.allowedHosts);
  const unusedAllowedHosts = unusedAllowedHostsWarning(deps.listenHost, deps.token, deps.allowedHosts);
  if (unusedAllowedHosts !== null) deps.logger.warn(unusedAllowedHosts);
  app.addHook('onRequest', async (req) => {
    if (PUBLIC_ROUTES.has(req.routeOptions.url ?? '')) return;
    const site = req.headers['sec-fetch-site'];
    const problem = siteProblem(Array.isArray(site) ? site[0] : site, req.headers.host, hostCheck, () => `${req.method} ${clip(pathOf(req.url))}`);
    if (problem) throw problem;
  });
  const check = deps.token === null ? null : bearerCheck(deps.token);
  if (check) {
    app.addHook('onRequest', async (req, reply) => {
      // The path only: a client that puts its token in the query string must not see it in the answer or the log.
      const problem = check(req.routeOptions.url, req.headers.authorization, `${req.method} ${clip(pathOf(req.url))}`);
      if (problem === null) return;
      reply.header('www-authenticate', 'Bearer realm="layercache"');
      throw new LayercacheError('UNAUTHORIZED', problem);
    });
  }
  // After authentication: a client without the token learns nothing of the limits, only that it needs the token.
  guardRequestHeads(app, deps.limits.bodyLimitBytes);
  // A full queue refuses an inference from its head, before its body is uploaded (the routes check again once it is).
  app.addHook('onRequest', async (req, reply) => {
    if (!INFERENCE_ROUTE.test(req.routeOptions.url ?? '')) return;
    const full = queueFull();
    if (!full) return;
    reply.header('connection', 'close');
    throw full;
  });
  // End to end in the server, failures included: from the request's head to its answer's last byte (reading, parsing
  // and decoding the body, queue, engine, encoding the answer), as the client would see it but for the network.
  app.addHook('onResponse', async (req, reply) => {
    if (!INFERENCE_ROUTE.test(req.routeOptions.url ?? '')) return;
    metrics.requestSeconds.observe({ model: model.name, outcome: reply.statusCode < 400 ? 'success' : 'failure' }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler((error: FastifyError | LayercacheError, req, reply) => {
    const e = asProtocolError(error, req, deps.limits.bodyLimitBytes);
    // Every failed inference is counted here: the handlers' own errors and Fastify's before them (body limit, content type).
    if (INFERENCE_ROUTE.test(req.routeOptions.url ?? '')) fail(e.code);
    // 503 and 504 are the server shedding load or shutting down, not faults.
    if (e.httpStatus >= 500 && e.httpStatus !== 503 && e.httpStatus !== 504) req.log.error({ err: e, code: e.code }, e.message);
    else req.log.info({ code: e.code }, e.message);
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) => {
    // A path that exists under other methods is a 405 naming them (RFC 9110), not a 404.
    const pathname = pathOf(req.url);
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(pathname)).flatMap((r) => r.methods))];
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendError(reply, new LayercacheError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${clip(pathname)}; use ${allowed.join(' or ')}`));
    }
    return sendError(reply, new LayercacheError('ROUTE_NOT_FOUND', `no route ${req.method} ${clip(pathname)}; see docs/http-api.md for the routes`));
  });

  const fail = (code: string): void => {
    metrics.requestFailure.inc({ model: model.name, code });
  };

  /** Runs rows [rows, ...sample] through the batcher; records metrics and feeds the online learner. */
  async function infer(req: FastifyRequest, data: Float32Array, rows: number, pinned: string | null): Promise<RowsResult> {
    if (!deps.isReady() && !deps.accepted.has(req)) throw notReady();
    const draws = online.verifyDraws(rows);
    const r = await batcher.submit(data, rows, draws);
    // A NaN answer is no answer (JSON would show it as null): the request fails, and the learner never sees it.
    const bad = unusableScoresRow(r.probs, r.classes);
    if (bad >= 0) {
      throw new LayercacheError('MODEL_OUTPUT_INVALID', `the model's class scores for row ${bad} of this request are not finite numbers (NaN or infinity); the model cannot answer this input (check what it was trained on, and the preprocessing)`);
    }
    // The rows ran and their verification goes on, so the learner sees them even when the request is refused below.
    online.onAnswered(data, r.exits, draws, r.version);
    answeredAs(served, pinned, r.version);
    metrics.queueSeconds.observe({ model: model.name }, r.queueMs / 1000);
    metrics.computeSeconds.observe({ model: model.name }, r.computeMs / 1000);
    for (const e of r.exits) metrics.exits.inc({ model: model.name, exit: e < 0 ? 'backbone' : String(e), tensor: online.exitTensor(r.version, e) });
    metrics.requestSuccess.inc({ model: model.name });
    return r;
  }

  app.get('/v2', async () => ({ name: 'layercache', version: deps.serverVersion, extensions: ['binary_tensor_data', 'classify', 'cache_status'] }));
  app.get('/v2/health/live', async () => ({ live: true }));
  /** Ready to answer inferences: started, not shutting down, and an engine worker running. */
  const serving = (): boolean => deps.isReady() && deps.engineRunning();
  app.get('/v2/health/ready', async (_req, reply) => reply.code(serving() ? 200 : 503).send({ ready: serving() }));
  /** A model route, also under /v2/models/{name}/versions/{version} as the protocol defines it. */
  const MODEL = ['/v2/models/:name', '/v2/models/:name/versions/:version'];
  for (const at of MODEL) app.get(at, async (req) => {
    modelOf(served, req);
    const s = online.status();
    return {
      name: model.name,
      versions: [String(s.version)],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: model.inputName, datatype: 'FP32', shape: [-1, ...model.sampleDims] }],
      outputs: [
        { name: 'probabilities', datatype: 'FP32', shape: [-1, model.classes] },
        { name: 'class', datatype: 'INT64', shape: [-1] },
        { name: 'exit', datatype: 'INT32', shape: [-1] },
        { name: 'confidence', datatype: 'FP32', shape: [-1] },
      ],
      parameters: { bundle_version: s.version, exits: s.exits, answering_exits: s.answeringExits },
    };
  });
  for (const at of MODEL) app.get(`${at}/ready`, async (req, reply) => {
    modelOf(served, req);
    return reply.code(serving() ? 200 : 503).send({ name: model.name, ready: serving() });
  });
  for (const at of MODEL) app.get(`${at}/cache`, async (req) => {
    modelOf(served, req);
    return online.status();
  });
  app.get('/metrics', async (_req, reply) => {
    online.updateGauges();
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  for (const at of MODEL) app.post(`${at}/infer`, async (req, reply) => {
    const pinned = modelOf(served, req);
    // No content type (tritonclient, KServe's client) or almost any, as Triton: the protocol's body is JSON, followed by
    // binary tensors when HEADER_LENGTH says so. Not an image, and not a type a browser sends cross-site without a preflight.
    const type = mediaTypeOf(req);
    if (type.startsWith('multipart/') || type.startsWith('image/')) {
      throw new LayercacheError('UNSUPPORTED_MEDIA_TYPE', `infer takes the protocol's JSON body (binary tensors with ${HEADER_LENGTH}), not '${clip(type)}'; images go to the classify route`);
    }
    if (BROWSER_SIMPLE_TYPES.has(type)) {
      throw new LayercacheError('UNSUPPORTED_MEDIA_TYPE', `infer does not take '${clip(type)}', a type browsers send from any site without asking; send application/json, application/octet-stream or no Content-Type`);
    }
    const headerValue = req.headers[HEADER_LENGTH];
    if (headerValue !== undefined && !/^\d{1,15}$/.test(String(headerValue))) {
      throw new LayercacheError('INFER_REQUEST_INVALID', `${HEADER_LENGTH} '${clip(String(headerValue))}' is not a byte count; send the length of the JSON header in bytes`);
    }
    const headerLength = headerValue === undefined ? null : Number(headerValue);
    // The queue may have filled while the body arrived: refused before it is decoded and parsed.
    refuseWhenFull();
    const parsed = await parser.parse(await decodedBody(req, reply), headerLength);
    const input = parsed.inputs[0]!;
    const rows = input.shape[0]!;
    const r = await infer(req, input.data, rows, pinned);
    const tensors = outputTensors(r, rows);
    const wanted = parsed.outputs ?? OUTPUTS.map((name) => ({ name, binary: parsed.binaryOutputs }));
    const encoded = encodeInferResponse(
      { modelName: model.name, modelVersion: String(r.version), id: parsed.id, parameters: { bundle_version: r.version, exit: Array.from(r.exits).join(','), queue_ms: Number(r.queueMs.toFixed(3)), compute_ms: Number(r.computeMs.toFixed(3)), batch_rows: r.batchRows } },
      wanted.map((w) => ({ tensor: tensors.find((t) => t.name === w.name)!, binary: w.binary })),
    );
    if (encoded.headerLength !== null) reply.header('content-type', 'application/octet-stream').header(HEADER_LENGTH, encoded.headerLength);
    else reply.header('content-type', 'application/json');
    return reply.send(encoded.body);
  });

  /** The body without its Content-Encoding; a 415 for an unknown one says which the server reads (RFC 9110 §15.5.16). */
  async function decodedBody(req: FastifyRequest, reply: FastifyReply): Promise<Buffer> {
    try {
      return await decodeBody(bodyOf(req), req.headers['content-encoding'], deps.limits.bodyLimitBytes);
    } catch (err) {
      if (err instanceof LayercacheError && err.code === 'UNSUPPORTED_MEDIA_TYPE') reply.header('accept-encoding', ACCEPTED_ENCODINGS);
      throw err;
    }
  }

  for (const at of MODEL) app.post(`${at}/classify`, async (req, reply) => {
    const pinned = modelOf(served, req);
    if (!model.preprocess) {
      throw new LayercacheError('INFER_REQUEST_INVALID', `model '${model.name}' was built from tensors and records no image preprocessing, so it takes no images; use the infer route`);
    }
    if (!model.imageSize) {
      const dims = model.sampleDims;
      const channelsLast = model.preprocess.layout === 'nchw' && dims.length === 3 && (dims[2] === 1 || dims[2] === 3);
      const hint = channelsLast ? `; its last dimension looks like colour channels: if the model takes images channels-last, start the server with --layout nhwc` : '; use the infer route';
      throw new LayercacheError('INFER_REQUEST_INVALID', `model '${model.name}' takes input of shape [${dims.join(', ')}], which is not an image in ${model.preprocess.layout} layout${hint}`);
    }
    let bytes: Buffer;
    if (req.isMultipart()) {
      // A multipart body is streamed to its parser as sent: a compressed one cannot be read.
      const coding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
      if (coding !== 'identity' && coding !== '') {
        throw new LayercacheError('UNSUPPORTED_MEDIA_TYPE', `a multipart body is read as sent, not decoded (Content-Encoding '${clip(coding)}'); send it uncompressed, or send the image itself as the body (which may be compressed)`);
      }
      bytes = await multipartImage(req, deps.limits.bodyLimitBytes);
    } else {
      // Whatever the content type says (but not one a browser sends cross-site unasked): the image is recognised by its signature below.
      const type = mediaTypeOf(req);
      if (BROWSER_SIMPLE_TYPES.has(type)) {
        throw new LayercacheError('UNSUPPORTED_MEDIA_TYPE', `classify does not take '${clip(type)}', a type browsers send from any site without asking; send the image as image/jpeg, image/png, application/octet-stream or multipart/form-data`);
      }
      bytes = await decodedBody(req, reply);
    }
    if (!bytes || bytes.length === 0) {
      throw new LayercacheError('INFER_REQUEST_INVALID', req.isMultipart() ? "the multipart body's file part is empty; attach the JPEG or PNG file's bytes to it" : 'the request has no image; send the JPEG or PNG bytes as the body');
    }
    // Only the formats the route promises reach the decoder (sharp would also render SVG, GIF, TIFF, …).
    if (!isJpegOrPng(bytes)) {
      throw new LayercacheError('INFER_REQUEST_INVALID', `the image is not a JPEG or PNG (its first bytes are ${bytes.subarray(0, 8).toString('hex')})${notImageHint(bytes, mediaTypeOf(req))}; classify takes JPEG or PNG files`);
    }
    // A full queue refuses before the image is decoded (hundreds of milliseconds for a large photo).
    refuseWhenFull();
    const x = await decodeSlots.run(() => decodeImage(bytes, model.imageSize!, model.preprocess!, 'the request body', { maxPixels: CLASSIFY_MAX_PIXELS, maxDecodedBytes: CLASSIFY_MAX_DECODED_BYTES }));
    const r = await infer(req, x.data, 1, pinned);
    const K = r.classes;
    const order = Array.from({ length: K }, (_, k) => k).sort((a, b) => r.probs[b]! - r.probs[a]!).slice(0, deps.limits.topK);
    return reply.send({
      model_name: model.name,
      bundle_version: r.version,
      exit: r.exits[0]!,
      confidence: r.confidence[0],
      top: order.map((k) => ({ label: model.labels[k] ?? String(k), class: k, probability: r.probs[k] })),
    });
  });

  return app;
}
