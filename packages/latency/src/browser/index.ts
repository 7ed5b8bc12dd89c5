/**
 * `@fastdepth/latency/browser`: latency tables measured in browsers. `chromiumRunner` times
 * NetAdapt's one-layer networks in a local headless Chromium; `startDeviceServer` lets any
 * browser that opens its page (a phone, a laptop) measure a plan into its own table.
 */
export { chromiumRunner, type BrowserRunner, type ChromiumRunnerOptions } from './chromium.js';
export { latencyPlan, type PlanPoint } from './plan.js';
export {
  deviceBackend,
  deviceMachine,
  MAX_RUN_MS,
  PAGE_BACKENDS,
  PAGE_ENGINES,
  parseRegister,
  parseResult,
  type DeviceInfo,
  type Job,
  type JobReply,
  type PageBackend,
  type PageEngine,
  type Progress,
} from './protocol.js';
export {
  Device,
  DeviceServer,
  newDeviceId,
  PAGE_DIR,
  probeModel,
  startDeviceServer,
  type DeviceEvent,
  type DeviceServerOptions,
} from './server.js';
