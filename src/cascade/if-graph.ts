/**
 * The batch-1 cascade as one ONNX graph of nested If nodes: segment j and head j run,
 * the score is compared with the threshold in-graph, and only the branch taken runs
 * (then: answer with head j; else: the rest of the network). One session call per
 * request, instead of one per stage.
 * Outputs: probabilities [1, classes] float32 and the exit [1] int64 (−1 = full backbone),
 * in that order (named 'probs' and 'exit' unless the model already uses those names).
 * Invariants: the decision equals scoreRow(...) ≥ threshold up to float32 rounding of the
 * threshold; a threshold of +Infinity never exits; every tensor name is unique across all
 * nested graphs.
 */
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, type GraphProto, type NodeProto, type TensorProto } from 'onnx-buf';
import type { ScoreSpec } from '../bundle/index.ts';
import { makeValueInfo, modelOpset, type ModelProto } from '../onnx/index.ts';
import { tensor } from '../tensor/index.ts';
import type { CascadeExit } from './cascade.ts';
import { appendExitDecision, cascadeModel, nameScope, partsOf } from './graph-parts.ts';

interface Level {
  nodes: NodeProto[];
  initializers: TensorProto[];
  probs: string;
  exit: string;
}

export function buildIfCascade(
  fused: readonly ModelProto[], last: ModelProto, exits: readonly CascadeExit[], headOutputs: readonly string[],
  classes: number, kind: ScoreSpec['kind'],
): ModelProto {
  const opset = modelOpset(last);
  const { taken, claim } = nameScope([...fused, last]);

  // Innermost level: the rest of the backbone, answering with its softmax and exit −1.
  const lastGraph = last.graph!;
  const logits = lastGraph.output[0]!.name;
  const lastProbs = claim('lc_probs_full');
  const lastExit = claim('lc_exit_full');
  const tail = partsOf((g) => {
    g.op('Softmax', [logits], { axis: 1 }, lastProbs);
    g.op('Constant', [], { value: tensor('int64', [1], new BigInt64Array([-1n])) }, lastExit);
  }, opset, taken, [lastProbs, lastExit]);
  let inner: Level = {
    nodes: [...lastGraph.node, ...tail.nodes],
    initializers: [...lastGraph.initializer, ...tail.initializers],
    probs: lastProbs,
    exit: lastExit,
  };

  for (let j = fused.length - 1; j >= 0; j--) {
    const exit = exits[j]!;
    const seg = fused[j]!.graph!;
    const lp = headOutputs[j]!;
    const cond = claim(`lc_cond_${j}`);
    const thenProbs = claim(`lc_probs_head_${j}`);
    const thenExit = claim(`lc_exit_head_${j}`);
    const probs = claim(`lc_probs_${j}`);
    const exitOut = claim(`lc_exit_${j}`);
    const decide = partsOf((g) => appendExitDecision(g, lp, exit, j, kind, classes, opset, claim, cond), opset, taken, [cond]);
    const thenParts = partsOf((g) => {
      g.op('Exp', [lp], {}, thenProbs);
      g.op('Constant', [], { value: tensor('int64', [1], new BigInt64Array([BigInt(j)])) }, thenExit);
    }, opset, taken, [thenProbs, thenExit]);
    const branch = (name: string, level: Level): GraphProto => create(GraphProtoSchema, {
      name,
      node: level.nodes,
      initializer: level.initializers,
      output: [makeValueInfo(level.probs, 'float32', [1, classes]), makeValueInfo(level.exit, 'int64', [1])],
    });
    const ifParts = partsOf((g) => {
      g.node('If', [cond], {
        then_branch: branch(`lc_then_${j}`, { ...thenParts, probs: thenProbs, exit: thenExit }),
        else_branch: branch(`lc_else_${j}`, inner),
      }, { outputs: [probs, exitOut], name: claim(`lc_if_${j}`) });
    }, opset, taken, [probs, exitOut]);
    inner = {
      nodes: [...seg.node, ...decide.nodes, ...ifParts.nodes],
      initializers: [...seg.initializer, ...decide.initializers, ...ifParts.initializers],
      probs,
      exit: exitOut,
    };
  }

  const probsOut = claim('probs');
  const exitOut = claim('exit');
  const out = partsOf((g) => {
    g.op('Identity', [inner.probs], {}, probsOut);
    g.op('Identity', [inner.exit], {}, exitOut);
  }, opset, taken, [probsOut, exitOut]);
  return cascadeModel(fused, last, 'layercache_cascade_batch1', {
    nodes: [...inner.nodes, ...out.nodes],
    initializers: [...inner.initializers, ...out.initializers],
  }, { probs: probsOut, exit: exitOut, batch: 1, classes });
}
