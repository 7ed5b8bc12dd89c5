/** Test helpers shared with other packages' tests (`@fastdepth/netadapt/testing`, sources only). */
export { tinyEncoderDecoder } from './tiny-net.js';
export { startRedisServer, freePort, type RedisServer } from './redis-server.js';
