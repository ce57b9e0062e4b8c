/**
 * The batch-N cascade as one ONNX graph: segment j and head j run on the rows still
 * alive, rows whose score reaches the threshold are answered, and `Compress` keeps the
 * other rows of the cut tensor for the next segment, all inside onnxruntime (no copies out
 * and back in, one session call per batch). Each next level sits in the then-branch of an
 * `If` on "any row left", so a segment never runs on zero rows. Answers are gathered
 * level by level (rows that exit, then the inner level's rows) with their original row
 * index, and scattered back into input order at the end.
 * Outputs: probabilities [batch, classes] float32 and the exit [batch] int64 (−1 = full
 * backbone), in that order.
 * Invariants: each row's decisions equal the staged runtime's (the same in-graph decision
 * as the batch-1 graph); rows come back in input order; every tensor name is unique.
 */
import { clone, create } from '@bufbuild/protobuf';
import { GraphProtoSchema, NodeProtoSchema, type GraphProto, type NodeProto, type TensorProto } from 'onnx-buf';
import type { ScoreSpec } from '../bundle/index.ts';
import { makeValueInfo, modelOpset, type GraphBuilder, type ModelProto } from '../onnx/index.ts';
import { tensor } from '../tensor/index.ts';
import type { CascadeExit } from './cascade.ts';
import { appendExitDecision, cascadeModel, nameScope, partsOf } from './graph-parts.ts';

interface Level {
  nodes: NodeProto[];
  initializers: TensorProto[];
  /** [n, classes] answers, [n] original row indices, [n] exits of this level and those inside it. */
  probs: string;
  index: string;
  exit: string;
}

/** The nodes of `graph` with every read of `from` turned into a read of `to` (copies; the model is not changed). */
function renameInput(nodes: readonly NodeProto[], from: string, to: string): NodeProto[] {
  return nodes.map((n) => {
    if (!n.input.includes(from)) return n;
    const c = clone(NodeProtoSchema, n);
    c.input = c.input.map((i) => (i === from ? to : i));
    return c;
  });
}

/** Axis-1 unsqueeze at any opset. */
function unsqueeze1(g: GraphBuilder, x: string, opset: number, claim: (b: string) => string): string {
  return opset >= 13
    ? g.op('Unsqueeze', [x, g.weight(claim('lc_ax1'), tensor('int64', [1], new BigInt64Array([1n])))])
    : g.op('Unsqueeze', [x], { axes: [1] });
}

/**
 * fused: segment j with head j fused (outputs the cut tensor and headOutputs[j]); last:
 * the rest of the backbone. Needs opset ≥ 11 (Compress with axis, ScatterND, Range).
 */
export function buildCompressCascade(
  fused: readonly ModelProto[], last: ModelProto, exits: readonly CascadeExit[], headOutputs: readonly string[],
  classes: number, kind: ScoreSpec['kind'],
): ModelProto {
  const opset = modelOpset(last);
  const { taken, claim } = nameScope([...fused, last]);
  const cutOf = (j: number): string => exits[j]!.tensor;
  // Per level j ≥ 1: the compressed cut tensor it reads, and the row indices it holds.
  const keptCut = exits.map((_, j) => claim(`lc_kept_${j}`));
  const rowIndex = [claim('lc_rows_0'), ...exits.map((_, j) => claim(`lc_rows_${j + 1}`))];

  // Innermost level: the rest of the backbone on the rows left, exit −1.
  const J = fused.length;
  const lastGraph = last.graph!;
  const logits = lastGraph.output[0]!.name;
  const lastNodes = J > 0 ? renameInput(lastGraph.node, cutOf(J - 1), keptCut[J - 1]!) : [...lastGraph.node];
  const inner0 = { probs: claim('lc_probs_full'), index: claim('lc_index_full'), exit: claim('lc_exit_full') };
  const tail = partsOf((g) => {
    g.op('Softmax', [logits], { axis: 1 }, inner0.probs);
    g.op('Identity', [rowIndex[J]!], {}, inner0.index);
    g.op('Expand', [g.weight(claim('lc_minus1'), tensor('int64', [1], new BigInt64Array([-1n]))), g.op('Shape', [rowIndex[J]!])], {}, inner0.exit);
  }, opset, taken, [inner0.probs, inner0.index, inner0.exit]);
  let inner: Level = { nodes: [...lastNodes, ...tail.nodes], initializers: [...lastGraph.initializer, ...tail.initializers], ...inner0 };

  const branch = (name: string, level: Level): GraphProto => create(GraphProtoSchema, {
    name,
    node: level.nodes,
    initializer: level.initializers,
    output: [makeValueInfo(level.probs, 'float32', null), makeValueInfo(level.index, 'int64', null), makeValueInfo(level.exit, 'int64', null)],
  });

  for (let j = J - 1; j >= 0; j--) {
    const seg = fused[j]!.graph!;
    const segNodes = j > 0 ? renameInput(seg.node, cutOf(j - 1), keptCut[j - 1]!) : [...seg.node];
    const fire = claim(`lc_fire_${j}`);
    const decide = partsOf((g) => appendExitDecision(g, headOutputs[j]!, exits[j]!, j, kind, classes, opset, claim, fire), opset, taken, [fire]);
    const out = { probs: claim(`lc_probs_${j}`), index: claim(`lc_index_${j}`), exit: claim(`lc_exit_${j}`) };
    const ifOut = { probs: claim(`lc_if_probs_${j}`), index: claim(`lc_if_index_${j}`), exit: claim(`lc_if_exit_${j}`) };
    const any = claim(`lc_any_${j}`);
    const split = partsOf((g) => {
      const rows = rowIndex[j]!;
      const keep = g.op('Not', [fire]);
      g.op('Compress', [cutOf(j), keep], { axis: 0 }, keptCut[j]!);
      g.op('Compress', [rows, keep], { axis: 0 }, rowIndex[j + 1]!);
      g.op('Greater', [g.op('Size', [rowIndex[j + 1]!]), g.weight(claim(`lc_zero_${j}`), tensor('int64', [], new BigInt64Array([0n])))], {}, any);
    }, opset, taken, [keptCut[j]!, rowIndex[j + 1]!, any]);
    const empty = { probs: claim(`lc_none_probs_${j}`), index: claim(`lc_none_index_${j}`), exit: claim(`lc_none_exit_${j}`) };
    const none = partsOf((g) => {
      g.op('Constant', [], { value: tensor('float32', [0, classes], new Float32Array(0)) }, empty.probs);
      g.op('Constant', [], { value: tensor('int64', [0], new BigInt64Array(0)) }, empty.index);
      g.op('Constant', [], { value: tensor('int64', [0], new BigInt64Array(0)) }, empty.exit);
    }, opset, taken, [empty.probs, empty.index, empty.exit]);
    const gather = partsOf((g) => {
      g.node('If', [any], {
        then_branch: branch(`lc_then_${j}`, inner),
        else_branch: branch(`lc_else_${j}`, { ...none, ...empty }),
      }, { outputs: [ifOut.probs, ifOut.index, ifOut.exit], name: claim(`lc_if_${j}`) });
      const exitedIndex = g.op('Compress', [rowIndex[j]!, fire], { axis: 0 });
      const exitedProbs = g.op('Compress', [g.op('Exp', [headOutputs[j]!]), fire], { axis: 0 });
      const exitedExit = g.op('Expand', [g.weight(claim(`lc_j_${j}`), tensor('int64', [1], new BigInt64Array([BigInt(j)]))), g.op('Shape', [exitedIndex])]);
      g.op('Concat', [exitedProbs, ifOut.probs], { axis: 0 }, out.probs);
      g.op('Concat', [exitedIndex, ifOut.index], { axis: 0 }, out.index);
      g.op('Concat', [exitedExit, ifOut.exit], { axis: 0 }, out.exit);
    }, opset, taken, [ifOut.probs, ifOut.index, ifOut.exit, out.probs, out.index, out.exit]);
    inner = {
      nodes: [...segNodes, ...decide.nodes, ...split.nodes, ...gather.nodes],
      initializers: [...seg.initializer, ...decide.initializers, ...split.initializers, ...gather.initializers],
      ...out,
    };
  }

  const first = (fused[0] ?? last).graph!;
  const input = first.input.find((v) => !first.initializer.some((t) => t.name === v.name))!.name;
  const probsOut = claim('probs');
  const exitOut = claim('exit');
  const head = partsOf((g) => {
    const batch = g.op('Gather', [g.op('Shape', [input]), g.weight(claim('lc_i0'), tensor('int64', [], new BigInt64Array([0n])))], { axis: 0 });
    g.op('Range', [g.weight(claim('lc_r0'), tensor('int64', [], new BigInt64Array([0n]))), batch, g.weight(claim('lc_r1'), tensor('int64', [], new BigInt64Array([1n])))], {}, rowIndex[0]!);
  }, opset, taken, [rowIndex[0]!]);
  const scatter = partsOf((g) => {
    const rowsShape = g.op('Shape', [rowIndex[0]!]);
    const at = unsqueeze1(g, inner.index, opset, claim);
    const zeros = g.op('ConstantOfShape', [g.op('Concat', [rowsShape, g.weight(claim('lc_k'), tensor('int64', [1], new BigInt64Array([BigInt(classes)])))], { axis: 0 })], { value: tensor('float32', [1], new Float32Array([0])) });
    g.op('ScatterND', [zeros, at, inner.probs], {}, probsOut);
    const noExit = g.op('ConstantOfShape', [rowsShape], { value: tensor('int64', [1], new BigInt64Array([0n])) });
    g.op('ScatterND', [noExit, at, inner.exit], {}, exitOut);
  }, opset, taken, [probsOut, exitOut]);
  return cascadeModel(fused, last, 'layercache_cascade_batchN', {
    nodes: [...head.nodes, ...inner.nodes, ...scatter.nodes],
    initializers: [...head.initializers, ...inner.initializers, ...scatter.initializers],
  }, { probs: probsOut, exit: exitOut, batch: 'batch', classes });
}
