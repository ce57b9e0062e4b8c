/** Locates ../shared/assets for integration tests; absent on a user's machine, where those tests skip. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Absolute path of the shared assets folder, or null when it is absent. */
export const ASSETS_DIR: string | null = (() => {
  const dir = process.env.LAYERCACHE_ASSETS ?? path.resolve(repoRoot, '../shared/assets');
  return existsSync(path.join(dir, 'ASSETS.md')) ? dir : null;
})();

export const SKIP_NO_ASSETS = ASSETS_DIR ? false : `../shared/assets not found next to the repository (set LAYERCACHE_ASSETS to its path); skipping tests on real models`;

if (SKIP_NO_ASSETS) console.log(`# ${SKIP_NO_ASSETS}`);

/** The ImageNet-statistics preprocessing the CIFAR ResNets were trained with. */
export const CIFAR_RESNET_PREPROCESS = { scale: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: 'nchw' } as const;
