/**
 * Prequential test of online caching on a real model: a server started from the bare
 * ResNet-20 (no heads) answers CIFAR-10 records 0–1499 with the full backbone, retrains
 * from them, then answers records 1500–2999, which it has never seen. Heads must appear
 * (some requests answered early) and agreement with the backbone on those later requests
 * must stay ≥ 1 − tolerance. The backbone's answers come from onnxruntime run directly.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';
import { openDataSource } from '../../src/data/index.ts';
import { Session } from '../../src/engine/index.ts';
import { readModelFile } from '../../src/onnx/index.ts';
import { HEADER_LENGTH, startServer } from '../../src/serve/index.ts';
import { ASSETS_DIR, CIFAR_RESNET_PREPROCESS, SKIP_NO_ASSETS } from '../support/assets.ts';

const TOLERANCE = 0.03;

describe('online caching on ResNet-20 (prequential)', { skip: SKIP_NO_ASSETS }, () => {
  it('learns heads from traffic and keeps agreement ≥ 1 − tolerance on the following requests', async () => {
    const model = path.join(ASSETS_DIR!, 'cifar10_resnet20.onnx');
    const data = await openDataSource(`cifar10:${path.join(ASSETS_DIR!, 'cifar10_test_jpeg.bin')}#0-2999`, CIFAR_RESNET_PREPROCESS);
    const config = loadConfig({
      preprocess: { ...CIFAR_RESNET_PREPROCESS, mean: [...CIFAR_RESNET_PREPROCESS.mean], std: [...CIFAR_RESNET_PREPROCESS.std] },
      // MACs as the objective: the selection depends only on the data, not on timing this machine.
      build: { tolerance: TOLERANCE, augment: ['flip'], objective: 'macs' },
      serve: { name: 'resnet20', log: 'silent', online: { retrainAfter: 1500, retrainEvery: 1_000_000 } },
    }, {});
    const server = await startServer(model, config);
    const sample = 3 * 32 * 32;
    const send = async (i: number): Promise<{ cls: number; exit: number; version: number }> => {
      const x = data.batch(i, i + 1).data;
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: server.model.inputName, shape: [1, 3, 32, 32], datatype: 'FP32', parameters: { binary_data_size: sample * 4 } }], outputs: [{ name: 'class' }, { name: 'exit' }] }));
      const res = await server.app.inject({
        method: 'POST', url: '/v2/models/resnet20/infer', payload: Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]),
        headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(header.length) },
      });
      assert.equal(res.statusCode, 200, res.body);
      const j = res.json();
      return { cls: j.outputs[0].data[0], exit: j.outputs[1].data[0], version: j.model_version };
    };
    try {
      for (let i = 0; i < 1500; i++) assert.equal((await send(i)).exit, -1, 'no exits before the first retrain');
      await server.online.idle();
      const status = server.online.status();
      assert.equal(status.retrains, 1);
      // The new heads learned from traffic clients chose (a flood of noise can teach them one class for everything):
      // until each exit has guardMinSamples verified answers, its answers are verified at the boosted share (0.5 by
      // default, against --verify-share's 0.05), so the guard can act within dozens of requests.
      assert.ok(status.answeringExits > 0 && status.perExit.every((x) => x.verified === 0), JSON.stringify(status));
      assert.equal(status.verifyShare, 0.5);
      const answers: { cls: number; exit: number }[] = [];
      for (let i = 1500; i < 3000; i++) answers.push(await send(i));

      const session = await Session.create(await readModelFile(model), 'backbone', config.engine);
      const out = Object.values(await session.run({ [server.model.inputName]: data.batch(1500, 3000) }))[0]!.data as Float32Array;
      await session.release();
      let agree = 0;
      answers.forEach((a, r) => {
        let c = 0;
        for (let k = 1; k < 10; k++) if (out[r * 10 + k]! > out[r * 10 + c]!) c = k;
        if (c === a.cls) agree++;
      });
      const hitRate = answers.filter((a) => a.exit >= 0).length / answers.length;
      const agreement = agree / answers.length;
      console.log(`online ResNet-20: version ${status.version} with ${status.exits} exits; on records 1500–2999 hit rate ${(hitRate * 100).toFixed(1)}%, agreement ${(agreement * 100).toFixed(2)}%`);
      assert.ok(status.exits > 0, 'the retrain kept no exit');
      assert.ok(hitRate > 0, 'no request was answered early');
      assert.ok(agreement >= 1 - TOLERANCE, `agreement ${agreement} < ${1 - TOLERANCE}`);
    } finally {
      await server.close();
    }
  });
});
