/** Public surface of the engine module: onnxruntime sessions behind plain tensors. */
export { Session, DEFAULT_ENGINE_OPTIONS, checkEngineOptions, runtimeVersion, type EngineOptions, type IoInfo } from './session.ts';
