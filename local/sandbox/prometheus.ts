/**
 * Starts the real Prometheus server (Debian's `prometheus` package) on a free loopback port,
 * scraping the given targets every second, with its data in a temp dir removed on close.
 * Used by the provider tests and the demo sandbox.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROMETHEUS_BINARY = process.env.SLUICE_PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export interface StartPrometheusOptions {
  /** host:port of each /metrics endpoint to scrape. */
  scrapeTargets: string[];
  /** Default 1. Also the scrape timeout. */
  scrapeIntervalSeconds?: number;
  /** How long to wait for /-/ready. Default 30 s (2 shared cores: startup can be slow). */
  startTimeoutMs?: number;
  /**
   * Stop the server when this process dies, even by SIGKILL (the demo sandbox): a watcher shell
   * holds a pipe from this process and sends SIGTERM to the server when the pipe closes.
   * Default false.
   */
  dieWithParent?: boolean;
}

export interface RunningPrometheus {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The server's process id (the sandbox kills it if its own process exits without close()). */
  pid: number;
  /** Resolves once `query` returns a non-empty result (e.g. a series was scraped, or `sum(x) >= 1000`). */
  waitForSeries(query: string, timeoutMs?: number): Promise<void>;
  /**
   * Replaces the scrape targets (file-based service discovery, which Prometheus watches): a
   * target that goes away is marked stale at once, a new one is scraped from its next interval.
   */
  setTargets(targets: string[]): Promise<void>;
  /** Rewrites the configuration with another scrape interval, reloads it (SIGHUP) and waits for every target's first scrape at it. */
  setScrapeInterval(seconds: number): Promise<void>;
  /** Stops the server and removes its temp dir. Idempotent. */
  close(): Promise<void>;
}

/** Whether the binary is installed (for callers that fall back, like the demo; tests must fail loudly instead). */
export function prometheusAvailable(): boolean {
  return existsSync(PROMETHEUS_BINARY);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function config(targetsFile: string, interval: number): string {
  return [
    'global:',
    `  scrape_interval: ${interval}s`,
    `  scrape_timeout: ${Math.min(interval, 10)}s`,
    `  evaluation_interval: ${interval}s`,
    'scrape_configs:',
    '  - job_name: sluice-test',
    '    file_sd_configs:',
    `      - files: [${JSON.stringify(targetsFile)}]`,
    '        refresh_interval: 1s',
    '',
  ].join('\n');
}

/** Written whole and renamed into place, so Prometheus never reads half a file. */
async function writeTargets(file: string, targets: string[]): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify([{ targets }]));
  await rename(`${file}.tmp`, file);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function instantQuery(url: string, query: string): Promise<unknown[]> {
  const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  if (body.status !== 'success') throw new Error(`Prometheus rejected ${query}: ${body.error ?? response.status}`);
  const result = body.data?.result;
  if (body.data?.resultType === 'scalar') return [result];
  return Array.isArray(result) ? result : [];
}

export async function startPrometheus(options: StartPrometheusOptions): Promise<RunningPrometheus> {
  if (!prometheusAvailable()) {
    throw new Error(
      `Prometheus binary not found at ${PROMETHEUS_BINARY}: install Debian's package (apt-get install -y prometheus) or set SLUICE_PROMETHEUS_BIN`,
    );
  }
  const interval = options.scrapeIntervalSeconds ?? 1;
  const dir = await mkdtemp(join(tmpdir(), 'sluice-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  const targetsFile = join(dir, 'targets.json');
  let targets = [...options.scrapeTargets];
  await writeTargets(targetsFile, targets);
  await writeFile(configFile, config(targetsFile, interval));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  const args = [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ];
  // dieWithParent: sh keeps our stdin pipe on fd 3 for a background watcher, then execs the server
  // (same pid, so `$$` in the watcher is the server). EOF on the pipe — close() ending it, or this
  // process dying — makes the watcher send SIGTERM.
  const watcher = 'exec 3<&0; (read _ <&3; kill -TERM $$ 2>/dev/null) & exec 3<&-; exec "$0" "$@" </dev/null';
  const child: ChildProcess = options.dieWithParent
    ? spawn('/bin/sh', ['-c', watcher, PROMETHEUS_BINARY, ...args], { stdio: ['pipe', 'ignore', 'pipe'] })
    : spawn(PROMETHEUS_BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  // Ending the pipe after the server is gone must not raise EPIPE as an unhandled error.
  child.stdin?.on('error', () => undefined);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    child.stdin?.end();
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      await close();
      throw new Error(`Prometheus exited during startup (${JSON.stringify(exited)}): ${stderr.trim()}`);
    }
    try {
      const ready = await fetch(`${url}/-/ready`);
      if (ready.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await close();
      throw new Error(`Prometheus did not become ready on ${url} within ${options.startTimeoutMs ?? 30_000} ms: ${stderr.trim()}`);
    }
    await sleep(100);
  }

  const waitForSeries = async (query: string, timeoutMs = 20_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const result = await instantQuery(url, query);
      if (result.length > 0) return;
      if (Date.now() > until)
        throw new Error(`Prometheus at ${url} returned nothing for ${query} within ${timeoutMs} ms (scraping ${targets.join(', ')})`);
      await sleep(200);
    }
  };

  /**
   * Resolves once every target has been scraped by a scrape loop at the new interval (the targets
   * API shows each loop's interval and last scrape). A SIGHUP reload is asynchronous and replaces
   * the scrape loops: the old loop can scrape once more after the signal, then its series read as
   * stale until the new loop's first scrape — so "a scrape since the signal" is not enough, and a
   * read in that window finds no series at all (it did on a loaded machine).
   */
  const setScrapeInterval = async (seconds: number, timeoutMs = 30_000 + 2000 * seconds) => {
    await writeFile(configFile, config(targetsFile, seconds));
    const signalled = Date.now();
    child.kill('SIGHUP');
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        const response = await fetch(`${url}/api/v1/targets?state=active`);
        const body = (await response.json()) as {
          data?: { activeTargets?: Array<{ scrapeInterval?: string; lastScrape?: string; health?: string }> };
        };
        const active = body.data?.activeTargets ?? [];
        const scraped = (t: { scrapeInterval?: string; lastScrape?: string; health?: string }) =>
          t.scrapeInterval === `${seconds}s` && t.health === 'up' && Date.parse(t.lastScrape ?? '') > signalled;
        if (active.length > 0 && active.every(scraped)) return;
      } catch {
        // reloading: ask again
      }
      if (Date.now() > until)
        throw new Error(`Prometheus at ${url} did not scrape at ${seconds}s intervals within ${timeoutMs} ms of a reload`);
      await sleep(200);
    }
  };

  const setTargets = async (next: string[]) => {
    targets = [...next];
    await writeTargets(targetsFile, targets);
  };

  return { url, pid: child.pid ?? -1, waitForSeries, setTargets, setScrapeInterval, close };
}
