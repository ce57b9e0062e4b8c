/**
 * A request that names a version (/v2/models/{name}/versions/{v}/infer) is answered by that version or refused:
 * a hot swap that lands between its check and its batch must not answer it with the next version. The app runs on a
 * fake batcher and learner, so the swap lands exactly there.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { AcceptedRequests } from './accepted-requests.ts';
import { buildApp, type AppDeps } from './app.ts';
import type { DynamicBatcher, RowsResult } from './batcher.ts';
import { ServerMetrics } from './metrics.ts';
import type { OnlineLearner } from './online.ts';

const CLASSES = 3;

/** The app on a learner serving `serving.version`, whose batcher runs `onSubmit` (the swap) before it answers. */
async function appWith(serving: { version: number }, onSubmit: () => void): Promise<Awaited<ReturnType<typeof buildApp>>> {
  const batcher = {
    refusal: () => null,
    submit: async (_input: Float32Array, rows: number): Promise<RowsResult> => {
      onSubmit();
      const probs = new Float32Array(rows * CLASSES).fill(1 / CLASSES);
      return { probs, exits: new Int32Array(rows).fill(-1), confidence: new Float32Array(rows).fill(1 / CLASSES), classes: CLASSES, version: serving.version, queueMs: 0, computeMs: 0, batchRows: rows };
    },
  } as unknown as DynamicBatcher;
  const learned: number[] = [];
  const online = {
    get servingVersion() { return serving.version; },
    verifyDraws: (rows: number) => new Float64Array(rows).fill(1),
    onAnswered: (_x: Float32Array, exits: Int32Array) => { learned.push(exits.length); },
    exitTensor: () => '',
    updateGauges: () => {},
  } as unknown as OnlineLearner;
  const deps: AppDeps = {
    model: { name: 'm', inputName: 'x', sampleDims: [2], classes: CLASSES, preprocess: null, imageSize: null, labels: [] },
    batcher, metrics: new ServerMetrics(), online, serverVersion: 'test', isReady: () => true, engineRunning: () => true,
    accepted: new AcceptedRequests(), logger: pino({ level: 'silent' }), token: null, listenHost: '127.0.0.1', allowedHosts: [],
    limits: { bodyLimitBytes: 1 << 20, maxRequestRows: 8, requestTimeoutMs: 5000, topK: 3 },
  };
  return buildApp(deps);
}

const body = { inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [0.5, 0.25] }] };

describe('version-pinned requests across a hot swap', () => {
  it('refuses a request for version 0 whose rows version 1 answered, and still answers requests without a version', async () => {
    const serving = { version: 0 };
    // The swap to version 1 lands while the request's rows wait in the batcher.
    const app = await appWith(serving, () => { serving.version = 1; });
    try {
      const pinned = await app.inject({ method: 'POST', url: '/v2/models/m/versions/0/infer', payload: body });
      assert.equal(pinned.statusCode, 404, pinned.body);
      assert.equal(pinned.json().code, 'MODEL_NOT_FOUND');
      assert.match(pinned.json().error, /version '0' of model 'm' is not served here; it serves version 1/);
      const failures = (await app.inject('/metrics')).body;
      assert.match(failures, /^layercache_inference_request_failure\{model="m",code="MODEL_NOT_FOUND"\} 1$/m);

      const any = await app.inject({ method: 'POST', url: '/v2/models/m/infer', payload: body });
      assert.equal(any.statusCode, 200, any.body);
      assert.equal(any.json().model_version, '1');
      const now = await app.inject({ method: 'POST', url: '/v2/models/m/versions/1/infer', payload: body });
      assert.equal(now.statusCode, 200, now.body);
      assert.equal(now.json().model_version, '1');
    } finally {
      await app.close();
    }
  });
});
