/**
 * The op layer the model calls: tensors with reverse-mode autograd and the
 * project's own kernels (OpenBLAS sgemm via FFI with a TypeScript
 * fallback, fused layer norm and GELU, block-wise attention). A backend can
 * be patched or replaced here without touching the model code.
 *
 * @module
 */
export {
  backward,
  constant,
  deviceGradOf,
  gradOf,
  parameter,
  record,
  recording,
  result,
  Tensor,
  valueAndGrad,
} from "./tensor.ts";
export type { Device, DeviceBuffer, DeviceKernels } from "./device.ts";
export { type WebgpuDevice, webgpuDevice } from "./webgpu_device.ts";
export { deviceOf } from "./device_ops.ts";
export {
  type Gemm,
  gemm,
  matmulLine,
  OPENBLAS_INSTALL_HINT,
  openblasGemm,
  slowMatmulNotice,
  typescriptGemm,
  useGemm,
} from "./blas.ts";
export { linear } from "./linear.ts";
export { layerNorm } from "./norm.ts";
export {
  add,
  addBroadcast,
  concatLast,
  dropout,
  erfc,
  gatherRows,
  gelu,
  geluErf,
  scale,
  scaleRows,
  sliceLast,
} from "./elementwise.ts";
export { attention, type AttentionInput, type AttentionOptions } from "./attention.ts";
export { rowKernels, type SimdRows, simdRows, typescriptRows, useTypescriptRows } from "../simd/softmax.ts";
export { Random } from "../random.ts";
export {
  type AdapterInfo,
  calibrateRouting,
  isSoftwareAdapter,
  probeAdapter,
  type Routing,
  WEBGPU_INSTALL_HINT,
  type WebgpuGemm,
  webgpuGemm,
} from "./webgpu.ts";
export { type ActiveBackend, type BackendName, BACKENDS, checkBackendName, selectBackend } from "./backend.ts";
