/** Public surface of the serve module: the KServe v2 inference server with online caching. */
export { startServer, type RunningServer, type OnlineControl } from './server.ts';
export { type ModelInfo } from './app.ts';
export { type OnlineStatus } from './online-status.ts';
export { HEADER_LENGTH, parseInferRequest, encodeInferResponse, type InferRequest, type ModelSpec, type OutputTensor } from './protocol.ts';
export { RequestParser, PARSE_INLINE_BYTES } from './request-parser.ts';
export { isLoopbackHost } from './request-site.ts';
