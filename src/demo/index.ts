/** Public surface of the demo module: the whole job on the built-in digits. */
export { runDemo, demoBuildConfig, demoThreads, DEMO_SPLITS, DEMO_REQUEST_FILE, type DemoResult } from './demo.ts';
export { DIGITS_BACKBONE, DIGITS_TRAINING, digitsBackbone, shiftDigits } from './digits-backbone.ts';
