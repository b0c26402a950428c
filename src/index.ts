export { CopyBackend, provision } from './backend.js';
export { type LayercopyCode, LayercopyError } from './core/errors.js';
export type { IdMap, IdMapping } from './core/id-map.js';
export {
  type BatchSize,
  DEFAULT_BATCH_SIZE,
  type PoolOptions,
  type Progress,
  type ProvisionOptions,
  type PullPolicy,
  type RegistryOptions,
  type Strategy,
} from './core/options.js';
export type { Devices, Owners, RootlessOptions } from './core/rootless.js';
export type { ImageSummary } from './images/oci.js';
export type { LayerSummary, ProvisionSummary } from './provision.js';
export { type DestroyResult, destroy } from './rootfs/destroy.js';
export {
  type Damage,
  type ImageInfo,
  type Incomplete,
  images,
  type PruneResult,
  type PullImageOptions,
  type PullResult,
  prune,
  pull,
  type Removed,
  rmi,
  type StoreCounts,
  type StoreOptions,
  type VerifyOptions,
  type VerifyResult,
  verify,
} from './store/api.js';
