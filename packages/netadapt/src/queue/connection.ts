/**
 * Where the proposal queue lives: a `redis://` or `rediss://` (TLS) URL, with an optional user,
 * password and database (`rediss://user:secret@host:6380/2`). Parsed once into ioredis options
 * that BullMQ and the blob store share; passwords never appear in messages.
 */
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import { FastDepthError } from '@fastdepth/graph-dsl';

export interface QueueLocation {
  /** ioredis / BullMQ connection options (host, port, db, credentials, TLS). */
  readonly options: RedisOptions;
  /** The URL without its password, for messages and logs. */
  readonly display: string;
}

/** Parses `--queue URL`; a bad URL is one clear line naming `flag`. */
export function parseQueueUrl(url: string, flag = '--queue'): QueueLocation {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FastDepthError(
      // JSON-quoted: the value may hold a newline or other control characters.
      `${flag} ${JSON.stringify(url)} is not a URL; expected redis://HOST:PORT or rediss://HOST:PORT`,
    );
  }
  const redacted = (): string => {
    const c = new URL(u.href);
    if (c.password) c.password = '***';
    return c.href.replace(/\/$/, '');
  };
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new FastDepthError(
      `${flag} "${redacted()}": the scheme must be redis:// or rediss:// (TLS), found ${u.protocol}//`,
    );
  if (!u.hostname) throw new FastDepthError(`${flag} "${redacted()}" names no host`);
  const port = u.port === '' ? 6379 : Number(u.port);
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 15)
    throw new FastDepthError(
      `${flag} "${redacted()}": the path must be a database number 0-15, found "/${dbText}"`,
    );
  // URL keeps IPv6 hosts in brackets; ioredis wants them bare.
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const options: RedisOptions = {
    host,
    port,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    // TLS checks the certificate against the host (SNI only for names: RFC 6066 forbids IPs).
    // A private CA is trusted through NODE_EXTRA_CA_CERTS.
    ...(u.protocol === 'rediss:' ? { tls: isIP(host) ? {} : { servername: host } } : {}),
    // BullMQ's workers block on Redis; it requires unlimited retries per request.
    maxRetriesPerRequest: null,
  };
  return { options, display: redacted() };
}

/**
 * Connects once with no retries: Redis unreachable, refusing the password or the TLS handshake
 * is one line (`FastDepthError`) before any work starts, not a stream of reconnect attempts.
 */
export async function checkReachable(location: QueueLocation, timeoutMs = 5000): Promise<void> {
  const redis = new Redis({
    ...location.options,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // The socket's own error (ECONNREFUSED, ENOTFOUND, a TLS failure) arrives as an event; the
  // rejected promise only says "Connection is closed".
  let cause: Error | undefined;
  redis.on('error', (e: Error) => (cause ??= e));
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    const why = (cause ?? (e as Error)).message.replace(/\s+/g, ' ').trim();
    throw new FastDepthError(`cannot reach Redis at ${location.display}: ${why}`);
  } finally {
    redis.disconnect();
  }
}

/** A plain client for the blob store (same options, its own connection). */
export function openRedis(location: QueueLocation): Redis {
  const redis = new Redis({ ...location.options });
  redis.on('error', () => undefined);
  return redis;
}

/** The same options typed for BullMQ (its own copy of the ioredis option type). */
export function bullConnection(location: QueueLocation): BullRedisOptions {
  return { ...location.options } as BullRedisOptions;
}
