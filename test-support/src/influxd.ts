/**
 * A real InfluxDB 1.x (Debian's `influxdb` package) on loopback for tests. Every address it binds
 * is a free 127.0.0.1 port, all its state lives under one directory, and it can be stopped, killed
 * and restarted on the same port and directory, so fault tests can take the catalog's database away
 * mid-run and bring it back with its data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exited, killChild, killOnExit, stopChild, type RestartableServer } from './child-process.js';
import { freePort } from './ports.js';

export interface InfluxdOptions {
  /** Path of the influxd binary (default: `influxd` on PATH). */
  influxdPath?: string;
  /** How long start and restart wait for /ping to answer 204 (default 30 s). */
  readyTimeoutMs?: number;
}

/** stop: SIGTERM, SIGKILL after 10 s; kill leaves whatever the WAL has. */
export interface InfluxdNode extends RestartableServer {
  /** http://127.0.0.1:PORT, no credentials (auth is off on the test server). */
  url: string;
}

/** TOML basic string: the directory comes from mkdtemp, but quote it properly anyway. */
const q = (s: string): string => JSON.stringify(s);

function config(dir: string, httpPort: number, rpcPort: number, ifqlPort: number): string {
  return `# Written by @vitalgate/test-support for one test run; everything on 127.0.0.1.
reporting-enabled = false
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = ${q(join(dir, 'meta'))}
  logging-enabled = false

[data]
  dir = ${q(join(dir, 'data'))}
  wal-dir = ${q(join(dir, 'wal'))}
  wal-fsync-delay = "0s"
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
  log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = false
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false

[ifql]
  enabled = false
  bind-address = "127.0.0.1:${ifqlPort}"

[logging]
  level = "warn"
  suppress-logo = true
`;
}

async function pingOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 204;
  } catch {
    return false;
  }
}

/** Starts influxd with its meta, data and WAL under `dir`; resolves when /ping answers 204. */
export async function startInfluxd(dir: string, opts: InfluxdOptions = {}): Promise<InfluxdNode> {
  const { influxdPath = 'influxd', readyTimeoutMs = 30_000 } = opts;
  await mkdir(dir, { recursive: true });
  const [port, rpcPort, ifqlPort] = [await freePort(), await freePort(), await freePort()];
  const configPath = join(dir, 'influxdb.conf');
  await writeFile(configPath, config(dir, port, rpcPort, ifqlPort));
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const p = spawn(influxdPath, ['run', '-config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = p;
    killOnExit(p);
    // Only the tail is kept: it is what explains a failed start.
    let tail = '';
    p.stderr!.setEncoding('utf8').on('data', (d: string) => { tail = (tail + d).slice(-4000); });
    const failed = new Promise<never>((_, reject) => {
      p.once('error', (e) => reject(new Error(`could not run ${influxdPath}: ${e.message}`)));
      p.once('exit', (code, signal) => reject(new Error(`influxd exited (${signal ?? code}) before answering ${url}/ping:\n${tail}`)));
    });
    failed.catch(() => {}); // observed below; after readiness a later exit is not an error here
    const deadline = Date.now() + readyTimeoutMs;
    const ready = (async () => {
      while (!(await pingOk(url))) {
        if (exited(p)) await failed;
        if (Date.now() > deadline) {
          p.kill('SIGKILL');
          throw new Error(`influxd did not answer ${url}/ping with 204 within ${readyTimeoutMs} ms:\n${tail}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await Promise.race([ready, failed]);
  };

  const stop = (): Promise<void> => stopChild(child, 10_000);
  const kill = (): Promise<void> => killChild(child);

  await launch();
  return {
    url,
    port,
    stop,
    kill,
    restart: async () => {
      await stop();
      await launch();
    },
  };
}
