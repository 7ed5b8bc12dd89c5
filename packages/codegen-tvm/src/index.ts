/**
 * @fastdepth/codegen-tvm — graph DSL to TVM: Relay text (v0.19), TVM's parameter file, NumPy
 * weights and a `build.py` that compiles, tunes and checks the network.
 */
export {
  emitRelay,
  relayParams,
  relayTensorType,
  relayFloat,
  RELAY_VERSION_HEADER,
  type RelayOptions,
} from './emit-relay.js';
export { relayParamName, checkRelayName, RELAY_KEYWORDS } from './names.js';
export { encodeTvmParams, TVM_NDARRAY_LIST_MAGIC, TVM_NDARRAY_MAGIC } from './tvm-params.js';
export { encodeNpz, encodeTensorNpy } from './npz.js';
export { emitTvmPackage, buildScript, type PackageFile, type TvmPackageOptions } from './package.js';
