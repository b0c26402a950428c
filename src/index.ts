export { CopyBackend, provision } from './backend.js';
export { type DestroyResult, destroy } from './destroy.js';
export { type LayercopyCode, LayercopyError } from './errors.js';
export { DEFAULT_BATCH_SIZE, type IdMap, type IdMapping, type PoolOptions, type Progress, type ProvisionOptions, type Strategy } from './options.js';
export type { LayerSummary, ProvisionSummary } from './provision.js';
