/**
 * A real Redis for tests: Debian's redis-server on a free loopback port, in a temporary folder,
 * without persistence; `stop()` ends it and removes the folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/** A port nobody listens on right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });

export interface RedisServerOptions {
  /** Clients must send this password (`requirepass`). */
  readonly password?: string;
  /** TLS only (no plain port), with this certificate and key (PEM files). */
  readonly tls?: { readonly cert: string; readonly key: string };
}

export async function startRedisServer(
  options: RedisServerOptions = {},
  binary = process.env.REDIS_SERVER ?? '/usr/bin/redis-server',
): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'redis-test-'));
  const port = await freePort();
  const listen = options.tls
    ? [
        ['--port', '0'],
        ['--tls-port', String(port)],
        ['--tls-cert-file', options.tls.cert],
        ['--tls-key-file', options.tls.key],
        ['--tls-auth-clients', 'no'],
      ]
    : [['--port', String(port)]];
  const args = [
    ...listen.flat(),
    ...['--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    ...(options.password !== undefined ? ['--requirepass', options.password] : []),
  ];
  const child: ChildProcess = spawn(binary, args, { stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => (exited = true));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (e) =>
      reject(new Error(`cannot start ${binary}: ${e.message} (install redis-server)`)),
    ),
  );
  const ready = (async () => {
    for (let i = 0; i < 200; i++) {
      if (exited) throw new Error(`${binary} exited at once (port ${port})`);
      if (await accepts(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`${binary} did not listen on port ${port} within 5 s`);
  })();
  await Promise.race([ready, spawnError]);
  return {
    port,
    url: `${options.tls ? 'rediss' : 'redis'}://${options.password !== undefined ? `:${encodeURIComponent(options.password)}@` : ''}127.0.0.1:${port}`,
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
