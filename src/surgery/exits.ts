/**
 * From cut points to candidate exits. By default, runs of cut points separated only by
 * cheap ops (activations, residual Adds, pooling, reshapes) collapse into one exit per
 * block. Invariant: a run's representative is its last cut with the same shape as the
 * run's first cut — the block output after its activation, before any pooling or
 * flattening — so exits are the tensors a head should read. Cuts with no heavy op
 * before them (input normalisation, casts) or none after them (the classifier's own
 * tail) are not exits: nothing would be saved there.
 */
import type { Dataflow } from './dataflow.ts';
import { HEAVY_OPS } from './macs.ts';

export function collapseCuts(flow: Dataflow, dimsOf: (name: string) => readonly number[] | undefined): string[] {
  const { cuts, cutPosition, index } = flow;
  const runs: string[][] = [];
  let prev = -1;
  for (const cut of cuts) {
    const pos = cutPosition.get(cut)!;
    let heavy = false;
    for (let i = prev + 1; i <= pos && !heavy; i++) heavy = flow.isCore[i]! && HEAVY_OPS.has(index.nodes[i]!.opType);
    if (heavy || runs.length === 0) runs.push([cut]);
    else runs[runs.length - 1]!.push(cut);
    prev = pos;
  }
  const heavyAt = index.nodes.map((n, i) => flow.isCore[i]! && HEAVY_OPS.has(n.opType));
  const firstHeavy = heavyAt.indexOf(true);
  const lastHeavy = heavyAt.lastIndexOf(true);
  return runs
    .map((run) => {
      const first = dimsOf(run[0]!)?.join('x');
      let rep = run[0]!;
      for (const c of run) if (dimsOf(c)?.join('x') === first) rep = c;
      return rep;
    })
    .filter((c) => {
      const pos = cutPosition.get(c)!;
      return firstHeavy >= 0 && firstHeavy <= pos && lastHeavy > pos;
    });
}
