/**
 * List-then-watch of one resource through the Kubernetes API, the way Gloo and a kubelet follow
 * their objects: @kubernetes/client-node's informer, restarted after an error (a dropped watch, an
 * injected fault) while the last known objects stay in use — a data plane keeps serving its last
 * good configuration when the API is unreachable.
 */
import { makeInformer } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';

export interface WatchedResource<T> {
  /** Resolves after the first successful list (the cache is then complete). */
  synced: Promise<void>;
  list(): readonly T[];
  stop(): Promise<void>;
}

export interface WatchOptions {
  /** Pause before a restart after an error. Default 250 ms. */
  restartDelayMs?: number;
  /** Called with each error before the restart (the gateway counts them; nothing is fatal). */
  onError?: (error: unknown) => void;
}

export function watchResource<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  onChange: (objects: readonly T[], object: T) => void,
  options: WatchOptions = {},
): WatchedResource<T> {
  let stopped = false;
  let listed = false;
  let markSynced: () => void = () => {};
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  const informer = makeInformer<T>(kubeConfig, path, async () => {
    const result = await list();
    listed = true;
    return result;
  });
  const changed = (object: T) => onChange(informer.list(), object);
  informer.on('add', changed);
  informer.on('update', changed);
  informer.on('delete', changed);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const start = () => {
    if (stopped) return;
    informer
      .start()
      .then(() => {
        if (listed) markSynced();
      })
      .catch((error: unknown) => restart(error));
  };
  const restart = (error: unknown) => {
    options.onError?.(error);
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      start();
    }, options.restartDelayMs ?? 250);
  };
  informer.on('error', restart);
  start();
  return {
    synced,
    list: () => informer.list(),
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await informer.stop();
    },
  };
}
