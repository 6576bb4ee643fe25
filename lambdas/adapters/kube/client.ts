/**
 * Small helpers shared by the Kubernetes adapters (the Gloo routers, the Deployment workload):
 * API clients from a KubeConfig, per-request timeouts, patch content types, the mapping of
 * client-node failures to the errors the state machine branches on, and the 409 retry loop.
 */
import {
  ApiException,
  AppsV1Api,
  AutoscalingV2Api,
  CustomObjectsApi,
  Observable,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { ConfigurationOptions, KubeConfig, ObservableMiddleware, RequestContext, ResponseContext } from '@kubernetes/client-node';
import { RefusedError, TransientError } from '../../core/errors.ts';

/** client-node sets no timeout of its own: a hung API server would hang the Lambda until it dies. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * The longest the routers wait for Gloo's verdict on a write (gloo-weights.ts watchVerdict). Gloo
 * reports asynchronously, at most about once a second, without a generation, and
 * writes a status only when it changes: after this long an unchanged status is its verdict on the
 * new object too. A status that changes after the write ends the wait sooner.
 */
export const DEFAULT_STATUS_SETTLE_MS = 1500;

export interface KubeClients {
  custom: CustomObjectsApi;
  apps: AppsV1Api;
  autoscaling: AutoscalingV2Api;
}

export function kubeClients(kubeConfig: KubeConfig): KubeClients {
  return {
    custom: kubeConfig.makeApiClient(CustomObjectsApi),
    apps: kubeConfig.makeApiClient(AppsV1Api),
    autoscaling: kubeConfig.makeApiClient(AutoscalingV2Api),
  };
}

function timeoutMiddleware(timeoutMs: number): ObservableMiddleware {
  return {
    // A fresh signal per request: the timeout covers one HTTP exchange, not the adapter's lifetime.
    pre: (request: RequestContext) => {
      request.setSignal(AbortSignal.timeout(timeoutMs));
      return new Observable(Promise.resolve(request));
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
  };
}

/** Options for one request: a timeout, and the patch content type when it is a patch. */
export function requestOptions(timeoutMs: number, patch?: 'merge' | 'json'): ConfigurationOptions<ObservableMiddleware> {
  const base: ConfigurationOptions<ObservableMiddleware> = {
    middleware: [timeoutMiddleware(timeoutMs)],
    middlewareMergeStrategy: 'append',
  };
  if (!patch) return base;
  // client-node would otherwise pick JSON patch for a body that is an object: a merge patch must say so.
  return setHeaderOptions('Content-Type', patch === 'merge' ? PatchStrategy.MergePatch : PatchStrategy.JsonPatch, base);
}

/** A Kubernetes object as errors name it: "UpstreamGroup gloo-system/podinfo". */
export interface ObjectRef {
  kind: string;
  /** The resource in RBAC terms ("upstreamgroups", "deployments/scale"), for 403 messages. */
  resource: string;
  namespace: string;
  name?: string;
}

export function describeRef(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace}/${ref.name ?? '*'}`;
}

export function isApiStatus(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}

/** The `message` of the metav1.Status body client-node keeps as text. */
function statusMessage(error: ApiException<unknown>): string {
  const body = error.body;
  if (typeof body === 'string') {
    try {
      const parsed: unknown = JSON.parse(body);
      if (parsed && typeof parsed === 'object' && 'message' in parsed && typeof parsed.message === 'string') return parsed.message;
    } catch {
      // Not JSON (a proxy's HTML page): fall through to the raw text.
    }
    return body.slice(0, 200);
  }
  return '';
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Dropped connections, refused connections and aborted (timed-out) requests: worth a retry. */
function networkFailure(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current.name === 'TimeoutError' || current.name === 'AbortError') return 'timed out';
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('UND_ERR'))) return `connection failed (${code})`;
  }
  // undici reports every transport failure as a TypeError "fetch failed" with the reason in `cause`.
  if (error instanceof TypeError && error.message === 'fetch failed') return 'connection failed';
  return undefined;
}

/**
 * A validating admission webhook's denial. The API server answers it with the webhook's status
 * code, 403 when the webhook sets none, and the message `admission webhook "<name>" denied the
 * request: <reason>` (k8s.io/apiserver, admission/plugin/webhook/errors/statuserror.go, ToStatusErr).
 * Gloo's webhook is `gloo.<namespace>.svc`; its reason reads e.g. "resource incompatible with
 * current Gloo snapshot: [...]" (kgateway-dev/kgateway#6932, #7047).
 */
export function admissionDenial(message: string): { webhook: string; reason: string } | undefined {
  const match = /^admission webhook "([^"]+)" denied the request:?\s*([\s\S]*)$/.exec(message);
  if (!match) return undefined;
  return { webhook: match[1] ?? '', reason: match[2] || 'no reason given' };
}

export interface KubeErrorOptions {
  /** A 404 in preflight is a refusal (nothing changed, exit 2); later it is an error. */
  notFound?: 'refused' | 'error';
  /** Added to a 404 message: which spec field names the object. */
  hint?: string;
}

/**
 * Maps a client-node failure to the errors the state machine branches on: 5xx, 429, timeouts
 * and dropped connections are TransientError (retried); 403 names the verb and resource (not
 * retried: RBAC does not heal by itself); 404 is RefusedError or Error as the phase requires.
 */
export function kubeError(error: unknown, verb: string, ref: ObjectRef, options: KubeErrorOptions = {}): Error {
  const what = describeRef(ref);
  if (error instanceof ApiException) {
    const code = error.code;
    const detail = statusMessage(error);
    const suffix = detail ? `: ${detail}` : '';
    if (code >= 500 || code === 429) return new TransientError(`${what} ${verb} failed: ${code}${suffix}`, { cause: error });
    if (code === 403) {
      const denial = admissionDenial(detail);
      if (denial) {
        // Not RBAC: the write was allowed, then Gloo's validating webhook (strict validation) refused the object.
        return new Error(
          `${what} ${verb} refused by ${denial.webhook} (Gloo's validating admission webhook, strict validation): ${denial.reason}`,
          { cause: error },
        );
      }
      return new Error(
        `forbidden: ${verb} ${ref.resource} ${ref.namespace}/${ref.name ?? '*'} — check the sluice:orchestrator RBAC${suffix}`,
        { cause: error },
      );
    }
    if (code === 401) return new Error(`${what} ${verb} failed: 401 unauthorized — the cluster refused the credentials`, { cause: error });
    if (code === 404) {
      const message = `${what} not found${options.hint ? ` (${options.hint})` : ''}`;
      return options.notFound === 'refused' ? new RefusedError(message, { cause: error }) : new Error(message, { cause: error });
    }
    return new Error(`${what} ${verb} failed: ${code}${suffix}`, { cause: error });
  }
  const network = networkFailure(error);
  if (network) return new TransientError(`${what} ${verb} failed: ${network}`, { cause: error });
  if (error instanceof Error) return new Error(`${what} ${verb} failed: ${error.message}`, { cause: error });
  return new Error(`${what} ${verb} failed: ${String(error)}`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface ThrottleRetry {
  /** Calls after the first one a 429 may cost. */
  attempts: number;
  /** The longest Retry-After honoured; a longer one is capped (the ASL's own retry takes over after that). */
  maxWaitMs: number;
}

export const DEFAULT_THROTTLE_RETRY: ThrottleRetry = { attempts: 3, maxWaitMs: 10_000 };

/** Seconds of a `Retry-After` header (delta-seconds or an HTTP date), in ms; undefined when absent or unreadable. */
export function retryAfterMs(error: unknown, now = Date.now()): number | undefined {
  if (!(error instanceof ApiException) || error.code !== 429) return undefined;
  const headers = (error.headers ?? {}) as Record<string, string | undefined>;
  const value = headers['retry-after'] ?? headers['Retry-After'];
  if (value === undefined) return 1000;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? 1000 : Math.max(0, date - now);
}

/**
 * One API call that honours throttling: a 429 (API Priority and Fairness, "the server may send a
 * Retry-After header", Kubernetes docs "API Priority and Fairness") waits what the server asks —
 * capped — and calls again, up to `attempts` times; then the 429 goes to the caller (kubeError calls
 * it transient, and the state machine's retry takes over). client-node 2 does not retry by itself.
 */
export async function honourRetryAfter<T>(call: () => Promise<T>, retry: ThrottleRetry = DEFAULT_THROTTLE_RETRY): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const wait = retryAfterMs(error);
      if (wait === undefined || attempt >= retry.attempts) throw error;
      await sleep(Math.min(wait, retry.maxWaitMs));
    }
  }
}

export interface ConflictRetry {
  attempts: number;
  baseDelayMs: number;
}

export const DEFAULT_CONFLICT_RETRY: ConflictRetry = { attempts: 5, baseDelayMs: 25 };

/**
 * Runs a read-check-write cycle again when the write hits 409 (a stale resourceVersion). The
 * cycle itself decides, on each fresh read, whether the object still holds what Sluice expects;
 * `run` must let a 409 ApiException through unmapped. Full jitter keeps two writers from
 * colliding in lockstep; after `attempts` the 409 is reported as transient.
 */
export async function retryOnConflict<T>(
  what: string,
  run: (attempt: number) => Promise<T>,
  retry: ConflictRetry = DEFAULT_CONFLICT_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(attempt);
    } catch (error) {
      if (!isApiStatus(error, 409)) throw error;
      if (attempt >= retry.attempts)
        throw new TransientError(`${what} failed: 409 conflict on ${attempt} attempts in a row`, { cause: error });
      await sleep(Math.random() * Math.min(1000, retry.baseDelayMs * 2 ** attempt));
    }
  }
}

/** The object's resourceVersion, sent back with a write so a stale write gets 409. */
export function resourceVersionOf(object: unknown, what: string): string {
  const metadata = object && typeof object === 'object' ? (object as { metadata?: { resourceVersion?: unknown } }).metadata : undefined;
  const version = metadata?.resourceVersion;
  if (typeof version !== 'string' || !version) throw new Error(`${what} has no metadata.resourceVersion`);
  return version;
}
