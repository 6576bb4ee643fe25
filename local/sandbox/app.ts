/**
 * Starts one sandbox app (local/sandbox/app-main.ts) as a child process on Node 24's type
 * stripping. Its behaviour (version, error rate, added latency) comes from its Deployment in the
 * Kubernetes API, which it watches itself; this side only learns what it serves, over IPC.
 *
 * The child dies with its parent (it exits when the IPC channel closes) and `close()` waits for
 * its exit, so no process outlives a sandbox.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AppBehaviour } from './app-main.ts';

export type { AppBehaviour } from './app-main.ts';

const APP_MAIN = fileURLToPath(new URL('./app-main.ts', import.meta.url));

export interface StartAppOptions {
  /** A kubeconfig file whose current context reaches the API (the stand-in). */
  kubeconfigPath: string;
  namespace: string;
  deployment: string;
  /** Seeds the injected errors and latency. Default 1. */
  seed?: number;
  /** Default 15 s (2 shared cores). */
  startTimeoutMs?: number;
}

export interface AppProcess {
  deployment: string;
  /** 127.0.0.1:PORT (what a Gloo Upstream's spec.static.hosts names). */
  address: string;
  url: string;
  pid: number;
  /** What it serves now, as it last reported. */
  behaviour(): AppBehaviour;
  /** Resolves once what it serves satisfies `accept`; rejects after `timeoutMs` (default 5 s). */
  waitForBehaviour(accept: (behaviour: AppBehaviour) => boolean, timeoutMs?: number): Promise<AppBehaviour>;
  /** SIGTERM, then SIGKILL after 3 s; resolves when the process has exited. Idempotent. */
  close(): Promise<void>;
}

type Message = { type: 'ready'; port: number } | { type: 'behaviour'; behaviour: AppBehaviour };

export async function startApp(options: StartAppOptions): Promise<AppProcess> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) throw new Error(`sandbox app needs Node 24 (type stripping); this is Node ${process.versions.node}: run through npx`);
  const label = `app ${options.namespace}/${options.deployment}`;
  const child: ChildProcess = spawn(process.execPath, ['--no-warnings', APP_MAIN], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: {
      ...process.env,
      SLUICE_APP_KUBECONFIG: options.kubeconfigPath,
      SLUICE_APP_NAMESPACE: options.namespace,
      SLUICE_APP_DEPLOYMENT: options.deployment,
      SLUICE_APP_SEED: String(options.seed ?? 1),
    },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  let behaviour: AppBehaviour | undefined;
  let port: number | undefined;
  const listeners = new Set<() => void>();
  child.on('message', (message: Message) => {
    if (message.type === 'ready') port = message.port;
    else if (message.type === 'behaviour') behaviour = message.behaviour;
    for (const listener of [...listeners]) listener();
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exit;
        clearTimeout(killer);
      }
    })());

  const until = <T>(value: () => T | undefined, timeoutMs: number, what: string) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const found = value();
        if (found !== undefined) done(() => resolve(found));
        else if (exited) done(() => reject(new Error(`${label} exited while waiting for ${what}: ${stderr.trim() || 'no output'}`)));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`${label}: no ${what} within ${timeoutMs} ms: ${stderr.trim()}`))),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('exit', check);
        settle();
      };
      listeners.add(check);
      child.on('exit', check);
      check();
    });

  try {
    const startTimeout = options.startTimeoutMs ?? 15_000;
    const ready = await until(() => port, startTimeout, 'listening port');
    await until(() => behaviour, startTimeout, `behaviour (does Deployment ${options.namespace}/${options.deployment} exist?)`);
    const address = `127.0.0.1:${ready}`;
    return {
      deployment: options.deployment,
      address,
      url: `http://${address}`,
      pid: child.pid ?? -1,
      behaviour: () => behaviour as AppBehaviour,
      waitForBehaviour: (accept, timeoutMs = 5000) =>
        until(() => (behaviour && accept(behaviour) ? behaviour : undefined), timeoutMs, 'matching behaviour'),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
