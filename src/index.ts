export { CopyBackend, provision } from './backend.js';
export { destroy, type DestroyResult } from './destroy.js';
export { LayercopyError, type LayercopyCode } from './errors.js';
export { DEFAULT_BATCH_SIZE, type IdMap, type IdMapping, type PoolOptions, type Progress, type ProvisionOptions, type Strategy } from './options.js';
export type { LayerSummary, ProvisionSummary } from './provision.js';
