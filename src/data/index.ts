/** Public surface of the data module: datasets and preprocessing. */
export { type Preprocess, IDENTITY_PREPROCESS, validatePreprocess, preprocessPlanar } from './preprocess.ts';
export { type LabelledImages, CIFAR_RECORD_BYTES, CIFAR_SHAPE, cifarRecordCount, readCifar } from './cifar.ts';
