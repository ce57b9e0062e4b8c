/** Public surface of the data module: data sources, data specs and preprocessing. */
export { type Preprocess, IDENTITY_PREPROCESS, preprocessFlags, samePreprocess, validatePreprocess, preprocessPlanar } from './preprocess.ts';
export { type LabelledImages, CIFAR_RECORD_BYTES, CIFAR_SHAPE, cifarRecordCount, readCifar } from './cifar.ts';
export { type DataSource, memorySource, requireDataSource, requireSampleDims } from './source.ts';
export { isImageSpec, openDataSource, specsOverlap } from './spec.ts';
export { type Augmentation, augmentProblem, checkAugmentable, cropped, flipped, parseAugmentList, randomized, withAugmentedCopies } from './augment.ts';
export { type ImageSize, colourImageSizeOf, imageSizeOf, decodeImage } from './image-folder.ts';
export { loadMnist, MNIST_SIDE, type MnistDigits } from './mnist.ts';
export { type DistinctSamples, distinctSamples } from './distinct.ts';
