/**
 * The catalogue of stable error codes. Every error layercache raises carries one of
 * these codes. Invariant: codes are never renamed or reused once released; the HTTP
 * status is what a server answers when the error reaches a client, and the exit code
 * is what the CLI returns.
 */

export interface ErrorCodeInfo {
  /** HTTP status the server answers with. */
  readonly httpStatus: number;
  /** Process exit code the CLI returns. 2 = bad input or usage, 1 = internal. */
  readonly exitCode: 1 | 2;
  /** One-line meaning, used in docs and `--help`. */
  readonly meaning: string;
}

const input = (meaning: string): ErrorCodeInfo => ({ httpStatus: 400, exitCode: 2, meaning });
const notFound = (meaning: string): ErrorCodeInfo => ({ httpStatus: 404, exitCode: 2, meaning });
const internal = (meaning: string): ErrorCodeInfo => ({ httpStatus: 500, exitCode: 1, meaning });
const unavailable = (meaning: string): ErrorCodeInfo => ({ httpStatus: 503, exitCode: 1, meaning });

export const ERROR_CODES = {
  USAGE: input('A command-line argument or option is missing or malformed.'),
  CONFIG_INVALID: input('A configuration value is out of range or of the wrong type, or cannot be used here (the server\'s --host/--port cannot be listened on).'),
  FILE_NOT_FOUND: notFound('A file or directory that was named does not exist.'),
  FILE_UNREADABLE: input('A file exists but cannot be read.'),
  FILE_WRITE_FAILED: internal('Writing an output failed, or its place cannot be written by this user (found before the work); no partial file or directory was left behind.'),
  OUTPUT_EXISTS: input('The output path already exists and is not empty.'),
  ONNX_PARSE_FAILED: input('The file is not a valid ONNX model (not protobuf, or truncated).'),
  ONNX_INVALID_MODEL: input('The file parses as protobuf but is not a usable ONNX model.'),
  MODEL_UNSUPPORTED: input('The model is valid ONNX but not a classifier layercache can cache: it needs one input with a batch dimension and class scores [batch, classes] as its first output (or the output --scores-output names).'),
  ONNX_EXTERNAL_DATA_MISSING: input('A tensor stored in an external data file could not be read.'),
  ONNX_BUILD_FAILED: internal('The ONNX graph builder was used incorrectly.'),
  INPUT_SHAPE_UNKNOWN: input('A model input has a symbolic dimension other than the batch.'),
  CUT_NOT_FOUND: input('A requested cut tensor does not exist in the graph.'),
  CUT_NOT_FRONTIER: input('A requested cut tensor is not a cut point of the dataflow graph.'),
  NO_EXITS: input('The graph has no single-tensor cut point, so it cannot be split.'),
  ENGINE_SESSION_FAILED: input('onnxruntime could not load the model.'),
  ENGINE_RUN_FAILED: internal('onnxruntime failed while running the model.'),
  MODEL_INPUT_REFUSED: { httpStatus: 422, exitCode: 2, meaning: 'onnxruntime failed on one request\'s input run on its own, while it ran the requests batched with it: the input holds values the model cannot take (a token id past its vocabulary, say).' },
  MODEL_OUTPUT_INVALID: { httpStatus: 422, exitCode: 2, meaning: 'The model answered an input with class scores that are not finite numbers (NaN or infinity), which no answer can be read from.' },
  DATA_SPEC_INVALID: input('A data specification could not be parsed or read.'),
  DATA_SHAPE_MISMATCH: input('The data samples do not have the shape the model expects.'),
  INPUT_INVALID: input("A tensor given to a cascade or session is malformed: its data does not fit its dims or type, or an input the model takes is missing; or a cascade's (or a build's) input holds a value that is not finite."),
  RELEASED: { httpStatus: 500, exitCode: 1, meaning: 'A session or cascade was run after its release(), or a server listened after its close(); create a new one.' },
  BUNDLE_NOT_FOUND: notFound('The bundle directory or its manifest does not exist.'),
  BUNDLE_INVALID: input('The bundle manifest or one of its files is malformed or corrupted.'),
  BUNDLE_MODEL_MISMATCH: input('The bundle was built for a different model.'),
  INFER_REQUEST_INVALID: input('An inference request does not follow the Open Inference Protocol v2 or does not fit the model; or any request lacks the Host header HTTP/1.1 requires.'),
  UNAUTHORIZED: { httpStatus: 401, exitCode: 2, meaning: 'The request has no valid bearer token, and the server requires one.' },
  CROSS_SITE_REFUSED: { httpStatus: 403, exitCode: 2, meaning: 'A browser sent the request from a page of another origin (Sec-Fetch-Site: cross-site or same-site).' },
  HOST_NOT_SERVED: { httpStatus: 421, exitCode: 2, meaning: 'The Host header names no loopback name nor an --allowed-host, and the server listens on loopback only without a token (a web page reaching it through DNS rebinding).' },
  ROUTE_NOT_FOUND: notFound('No route has this path.'),
  METHOD_NOT_ALLOWED: { httpStatus: 405, exitCode: 2, meaning: 'The path exists, but not for this HTTP method; the Allow header names the methods.' },
  MODEL_NOT_FOUND: notFound('The request names a model this server does not serve.'),
  UNSUPPORTED_MEDIA_TYPE: { httpStatus: 415, exitCode: 2, meaning: 'The request body has a content type or a content encoding the route does not accept.' },
  BODY_TOO_LARGE: { httpStatus: 413, exitCode: 2, meaning: 'The request body is larger than the server accepts.' },
  HEADERS_TOO_LARGE: { httpStatus: 431, exitCode: 2, meaning: 'The request headers are larger than the server accepts.' },
  EXPECTATION_FAILED: { httpStatus: 417, exitCode: 2, meaning: 'The request has an Expect header the server does not meet (anything but 100-continue).' },
  QUEUE_FULL: unavailable('The inference queue is full; the server sheds load instead of queueing without bound.'),
  NOT_READY: unavailable('The server is starting or shutting down and takes no inference requests.'),
  ENGINE_UNAVAILABLE: unavailable('No engine worker is running; the server is replacing one that failed.'),
  WORKER_RESTARTING: unavailable('A worker thread the request waited for stopped because of another request; this one was not run and can be sent again.'),
  STATE_MISMATCH: input('The state directory holds bundle versions of another model.'),
  STATE_LOCKED: input('Another running server uses the state directory.'),
  REQUEST_TIMEOUT: { httpStatus: 504, exitCode: 1, meaning: 'An inference request did not finish within the request timeout.' },
  REQUEST_INCOMPLETE: { httpStatus: 408, exitCode: 2, meaning: 'A request did not arrive completely within the request timeout.' },
  SOURCE_CHANGED: internal('The model file or bundle the server started from changed on disk while it serves; the server will not load the new content under its running version.'),
  WORKER_FAILED: internal('An engine worker thread, the request-parser worker or the retraining process failed.'),
  ARGUMENT_INVALID: internal('A library function was given an argument of the wrong kind (a call from plain JavaScript that TypeScript would have refused).'),
  INTERNAL: internal('An unexpected internal error; please report it with --verbose output.'),
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;
