export { CopyBackend, provision } from './backend.js';
export { type LayercopyCode, LayercopyError } from './core/errors.js';
export { DEFAULT_BATCH_SIZE, type IdMap, type IdMapping, type PoolOptions, type Progress, type ProvisionOptions, type Strategy } from './core/options.js';
export type { LayerSummary, ProvisionSummary } from './provision.js';
export { type DestroyResult, destroy } from './rootfs/destroy.js';
