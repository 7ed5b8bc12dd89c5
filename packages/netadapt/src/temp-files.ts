/**
 * Atomic writes and their temporary files live in `@fastdepth/latency/files` (the latency
 * tables need them and sit below this package); re-exported here so `@fastdepth/netadapt/files`
 * keeps working.
 */
export * from '@fastdepth/latency/files';
