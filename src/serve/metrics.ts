/**
 * Prometheus metrics of the server (prom-client), named with the `layercache_` prefix
 * and after Triton's where a Triton metric exists. Every server owns its own registry,
 * so servers in one process (tests) do not share counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// From a queue delay of 100 µs to the longest --timeout-ms a request is likely to be given.
const LATENCY_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1, 2, 5, 10, 30, 60];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requestSuccess: Counter<'model'>;
  readonly requestFailure: Counter<'model' | 'code'>;
  readonly queueSeconds: Histogram<'model'>;
  readonly computeSeconds: Histogram<'model'>;
  readonly requestSeconds: Histogram<'model' | 'outcome'>;
  readonly batchRows: Histogram<'model'>;
  readonly exits: Counter<'model' | 'exit' | 'tensor'>;
  readonly agreement: Gauge<'model'>;
  readonly agreementLower: Gauge<'model'>;
  readonly exitAgreement: Gauge<'model' | 'exit' | 'tensor'>;
  readonly exitThreshold: Gauge<'model' | 'exit' | 'tensor' | 'score'>;
  readonly verified: Counter<'model' | 'exit' | 'tensor' | 'agree'>;
  readonly bundleVersion: Gauge<'model'>;
  readonly retrains: Counter<'model' | 'outcome'>;
  readonly retrainSeconds: Histogram<'model'>;
  readonly bufferSamples: Gauge<'model'>;
  readonly guardActions: Counter<'model' | 'exit' | 'tensor' | 'action'>;
  readonly guardUnsaved: Counter<'model'>;
  readonly queueRows: Gauge<'model'>;
  readonly buildInfo: Gauge<'model' | 'version' | 'onnxruntime' | 'node'>;
  readonly engineWorkers: Gauge<'model'>;
  readonly workerFailures: Counter<'model'>;
  readonly verifyFailures: Counter<'model'>;
  /** Gauges read at each scrape (so they fall back as soon as what they read does): per gauge, its model and reader. */
  private readonly readers = new Map<Gauge<'model'>, { model: string; read: () => number }>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'layercache_' });
    this.requestSuccess = new Counter({ name: 'layercache_inference_request_success', help: 'Inference requests answered successfully', labelNames: ['model'], registers });
    this.requestFailure = new Counter({ name: 'layercache_inference_request_failure', help: 'Inference requests that failed, by error code', labelNames: ['model', 'code'], registers });
    this.queueSeconds = new Histogram({ name: 'layercache_inference_queue_duration_seconds', help: 'Time a request waited for its batch to run: in the batching queue, and for an engine worker to be free (one verifying earlier batches counts as busy)', labelNames: ['model'], buckets: LATENCY_BUCKETS_S, registers });
    this.computeSeconds = new Histogram({ name: 'layercache_inference_compute_duration_seconds', help: 'Engine time of the batch a request ran in, from its sending to a free engine worker to its result', labelNames: ['model'], buckets: LATENCY_BUCKETS_S, registers });
    this.requestSeconds = new Histogram({ name: 'layercache_inference_request_duration_seconds', help: 'End-to-end time of an inference request in the server, from its head to the last byte of its answer (body, parsing, queue, engine, answer), by outcome (success: a 2xx answer; failure: any other; aborted: the connection closed before the answer was all sent)', labelNames: ['model', 'outcome'], buckets: LATENCY_BUCKETS_S, registers });
    this.batchRows = new Histogram({ name: 'layercache_inference_batch_size', help: 'Rows per batch sent to the engine', labelNames: ['model'], buckets: BATCH_BUCKETS, registers });
    this.exits = new Counter({ name: 'layercache_inference_exit_total', help: "Rows answered per exit index ('backbone' = full model) and the exit's cut tensor (an index names another tensor after a retrain)", labelNames: ['model', 'exit', 'tensor'], registers });
    this.agreement = new Gauge({ name: 'layercache_agreement_estimate', help: 'Live agreement with the backbone, estimated from verification samples', labelNames: ['model'], registers });
    this.agreementLower = new Gauge({ name: 'layercache_agreement_lower_bound', help: 'One-sided lower confidence bound on live agreement', labelNames: ['model'], registers });
    this.exitAgreement = new Gauge({ name: 'layercache_exit_agreement_estimate', help: 'Agreement of verified early answers per exit of the serving version (sliding window)', labelNames: ['model', 'exit', 'tensor'], registers });
    this.exitThreshold = new Gauge({ name: 'layercache_exit_threshold', help: "Threshold of each exit of the serving version, in its score's units (score label: log-odds −log(1 − p) for max and temperature, the margin for margin); +Inf for an exit the accuracy guard disabled", labelNames: ['model', 'exit', 'tensor', 'score'], registers });
    this.verified = new Counter({ name: 'layercache_verification_total', help: 'Early answers checked against the full backbone', labelNames: ['model', 'exit', 'tensor', 'agree'], registers });
    this.bundleVersion = new Gauge({ name: 'layercache_bundle_version', help: 'Bundle version serving requests', labelNames: ['model'], registers });
    this.retrains = new Counter({ name: 'layercache_retrain_total', help: 'Online retrains, by outcome', labelNames: ['model', 'outcome'], registers });
    this.retrainSeconds = new Histogram({ name: 'layercache_retrain_duration_seconds', help: 'Duration of online retrains', labelNames: ['model'], buckets: [1, 5, 15, 30, 60, 120, 240, 480, 960], registers });
    this.bufferSamples = new Gauge({ name: 'layercache_buffer_samples', help: 'Samples held in the online training buffer', labelNames: ['model'], registers });
    this.guardActions = new Counter({ name: 'layercache_guard_actions_total', help: 'Accuracy-guard actions (threshold raised or exit disabled)', labelNames: ['model', 'exit', 'tensor', 'action'], registers });
    this.guardUnsaved = new Counter({ name: 'layercache_guard_unsaved_total', help: 'Accuracy-guard actions served from memory because the state directory could not save them (a restart would not keep them)', labelNames: ['model'], registers });
    this.buildInfo = new Gauge({ name: 'layercache_build_info', help: 'Always 1; the labels name the versions of layercache, onnxruntime and Node.js that serve', labelNames: ['model', 'version', 'onnxruntime', 'node'], registers });
    this.workerFailures = new Counter({ name: 'layercache_engine_worker_failures_total', help: 'Engine worker threads that failed (each is replaced), and replacements that could not load', labelNames: ['model'], registers });
    this.verifyFailures = new Counter({ name: 'layercache_verification_failures_total', help: 'Verification runs of early answers on the full backbone that failed (their answers go unchecked)', labelNames: ['model'], registers });
    this.engineWorkers = this.scrapedGauge('layercache_engine_workers', 'Engine worker threads running the serving version (fewer than --workers while one is being replaced)', registers);
    this.queueRows = this.scrapedGauge('layercache_queue_rows', 'Rows waiting in the batching queue', registers);
  }

  /**
   * Series that exist from the start at 0, so that rate() and absent() alerts read them before their first event,
   * and the build's versions (layercache_build_info, always 1).
   */
  start(model: string, versions: { version: string; onnxruntime: string }): void {
    this.buildInfo.set({ model, ...versions, node: process.versions.node }, 1);
    this.requestSuccess.inc({ model }, 0);
    for (const outcome of ['swapped', 'failed', 'kept']) this.retrains.inc({ model, outcome }, 0);
    this.guardUnsaved.inc({ model }, 0);
    this.workerFailures.inc({ model }, 0);
    this.verifyFailures.inc({ model }, 0);
  }

  /** `gauge` (queueRows, engineWorkers) reports read() at each scrape. */
  watch(gauge: Gauge<'model'>, model: string, read: () => number): void {
    this.readers.set(gauge, { model, read });
  }

  private scrapedGauge(name: string, help: string, registers: Registry[]): Gauge<'model'> {
    const gauge: Gauge<'model'> = new Gauge({
      name, help, labelNames: ['model'], registers,
      collect: () => {
        const reader = this.readers.get(gauge);
        if (reader) gauge.set({ model: reader.model }, reader.read());
      },
    });
    return gauge;
  }
}
