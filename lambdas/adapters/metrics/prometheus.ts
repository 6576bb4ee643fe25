/**
 * Prometheus over its HTTP API (GET /api/v1/query, instant queries). node:http/https rather than
 * fetch: a private CA (`ca`, PEM) needs an https agent option that fetch does not take.
 *
 * Errors: an unreachable server, a timeout, a 5xx or a 429 is a TransientError (the state machine
 * retries it with backoff); a rejected query or refused credentials is a plain Error naming the
 * query, because retrying it cannot help.
 */
import http from 'node:http';
import https from 'node:https';
import { TransientError } from '../../core/errors.ts';
import { parseDuration } from '../../core/duration.ts';
import type { MetricProvider } from '../../core/ports.ts';
import type { MetricValue } from '../../core/verdict.ts';
import { sourceOf } from '../../core/counts.ts';
import type { ArmCounters, CounterHistory, CounterSnapshot, SeriesSample } from '../../core/counts.ts';
import type { ArmCounterQueries } from '../../core/queries.ts';
import { redactUrl } from '../../core/secrets.ts';
import type { SecretString } from '../../core/secrets.ts';
import { resolveSecret } from '../secrets/resolver.ts';

/**
 * Signs one request just before it is sent (Amazon Managed Prometheus: SigV4), returning the
 * headers to add. It sees the exact URL that goes on the wire, so the signature covers it.
 */
export type RequestSigner = (request: { method: 'GET'; url: URL; headers: Record<string, string> }) => Promise<Record<string, string>>;

export interface PrometheusProviderOptions {
  address: string;
  /** A duration such as `5s` (default), or milliseconds. */
  timeout?: string | number;
  /** Values or references, resolved at the first request (lambdas/adapters/secrets/resolver.ts). */
  bearerToken?: SecretString | undefined;
  basicAuth?: { username: string; password: SecretString } | undefined;
  /** PEM of the CA that signs the server's certificate. */
  ca?: string | undefined;
  /** Evaluation time of instant queries; default: the server's now. */
  time?: () => Date | undefined;
  /** Signs each request (AMP); not together with bearerToken or basicAuth. */
  signer?: RequestSigner | undefined;
  /** Names the backend in messages (default "Prometheus"). */
  label?: string | undefined;
}

interface PrometheusAnswer {
  status?: string;
  error?: string;
  errorType?: string;
  data?: { resultType?: string; result?: unknown };
}

interface RawResponse {
  statusCode: number;
  body: string;
}

/** Prometheus writes sample values as strings; NaN (0/0, no traffic) becomes null: no data. */
function sampleValue(raw: unknown, query: string): MetricValue {
  if (typeof raw !== 'string')
    throw new Error(`Prometheus answered a sample that is not a string (${JSON.stringify(raw)}) — query: ${query}`);
  if (raw === 'NaN') return null;
  if (raw === '+Inf') return Number.POSITIVE_INFINITY;
  if (raw === '-Inf') return Number.NEGATIVE_INFINITY;
  const value = Number(raw);
  if (Number.isNaN(value)) throw new Error(`Prometheus answered a sample that is not a number ("${raw}") — query: ${query}`);
  return value;
}

export class PrometheusProvider implements MetricProvider {
  readonly address: string;
  readonly timeoutMs: number;
  #headers: Promise<Record<string, string>> | undefined;
  readonly #auth: Pick<PrometheusProviderOptions, 'bearerToken' | 'basicAuth'>;
  /** The address as messages show it: no userinfo, no query string (they may carry credentials). */
  readonly #shown: string;
  readonly #ca: string | undefined;
  readonly #time: () => Date | undefined;
  readonly #signer: RequestSigner | undefined;
  readonly #label: string;

  constructor(options: PrometheusProviderOptions) {
    this.address = options.address.replace(/\/+$/, '');
    this.timeoutMs = typeof options.timeout === 'number' ? options.timeout : parseDuration(options.timeout ?? '5s');
    this.#shown = redactUrl(this.address);
    if (options.bearerToken && options.basicAuth)
      throw new Error(`Prometheus at ${this.#shown}: set either bearerToken or basicAuth, not both`);
    this.#auth = { bearerToken: options.bearerToken, basicAuth: options.basicAuth };
    this.#ca = options.ca;
    this.#time = options.time ?? (() => undefined);
    this.#signer = options.signer;
    this.#label = options.label ?? 'Prometheus';
    if (this.#signer && (options.bearerToken || options.basicAuth))
      throw new Error(`${this.#label} at ${this.#shown}: requests are signed; set no bearerToken or basicAuth`);
  }

  /** The request headers, credentials resolved once per provider (a reference is read at first use, not at construction). */
  #baseHeaders(): Promise<Record<string, string>> {
    this.#headers ??= (async () => {
      const headers: Record<string, string> = { Accept: 'application/json' };
      const { bearerToken, basicAuth } = this.#auth;
      if (bearerToken) headers.Authorization = `Bearer ${await resolveSecret(bearerToken, `${this.#label} bearerToken`)}`;
      if (basicAuth) {
        const password = await resolveSecret(basicAuth.password, `${this.#label} basicAuth.password`);
        headers.Authorization = `Basic ${Buffer.from(`${basicAuth.username}:${password}`).toString('base64')}`;
      }
      return headers;
    })().catch((error: unknown) => {
      this.#headers = undefined;
      throw error;
    });
    return this.#headers;
  }

  /** Answers `vector(1)`: proves the server is reachable, the credentials work and it evaluates queries. */
  async isOnline(): Promise<void> {
    // runQuery's errors already name the server and what went wrong (unreachable, credentials, TLS).
    const value = await this.runQuery('vector(1)');
    if (value !== 1) throw new Error(`${this.#label} at ${this.#shown} is not online: vector(1) answered ${String(value)}`);
  }

  async runQuery(query: string): Promise<MetricValue> {
    return this.#single(await this.#query(query, this.#time()), query);
  }

  /**
   * Every series an instant query returns, with its labels (`__name__` dropped) and value, evaluated
   * at `at` (default: the provider's time, else the server's now). For raw counters: an empty
   * result is an empty list; a NaN sample is an error, since a counter is never NaN.
   */
  async series(query: string, at?: Date): Promise<SeriesSample[]> {
    const data = await this.#query(query, at ?? this.#time());
    if (data?.resultType !== 'vector')
      throw new Error(`query returned a ${String(data?.resultType)}, expected an instant vector of counter series — query: ${query}`);
    const result = (data.result ?? []) as Array<{ metric?: Record<string, string>; value?: unknown[] }>;
    return result.map((series) => {
      const { __name__: _name, ...labels } = series.metric ?? {};
      const value = sampleValue(series.value?.[1], query);
      if (value === null) throw new Error(`series ${JSON.stringify(labels)} answered NaN, which a counter never is — query: ${query}`);
      return { labels, value };
    });
  }

  /**
   * The raw samples of a range selector (`query` must end in `[<range>]`), evaluated at `at`: each
   * series with its labels and its [epoch ms, value] samples as scraped — the scrape timestamps,
   * not evaluation steps.
   */
  async matrix(query: string, at?: Date): Promise<Array<{ labels: Record<string, string>; samples: Array<[number, number]> }>> {
    const data = await this.#query(query, at ?? this.#time());
    if (data?.resultType !== 'matrix')
      throw new Error(`query returned a ${String(data?.resultType)}, expected a range vector — query: ${query}`);
    const result = (data.result ?? []) as Array<{ metric?: Record<string, string>; values?: unknown[][] }>;
    return result.map((series) => {
      const { __name__: _name, ...labels } = series.metric ?? {};
      const samples = (series.values ?? []).map(([ts, raw]): [number, number] => [
        Math.round(Number(ts) * 1000),
        sampleValue(raw, query) ?? Number.NaN,
      ]);
      return { labels, samples: samples.filter(([ts, v]) => Number.isFinite(ts) && Number.isFinite(v)) };
    });
  }

  async #query(query: string, time: Date | undefined): Promise<PrometheusAnswer['data']> {
    // Encoded by hand (RFC 3986, %20 for spaces) so that a SigV4 signature, which canonicalizes the
    // query string that way, covers exactly the bytes sent.
    const params: Array<[string, string]> = [
      ['query', query],
      // Let the server give up on its own too, so it does not keep evaluating after we left.
      ['timeout', `${this.timeoutMs}ms`],
    ];
    if (time) params.push(['time', (time.getTime() / 1000).toFixed(3)]);
    const url = new URL(`${this.address}/api/v1/query`);
    url.search = params.map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).join('&');

    const response = await this.#get(url, query);
    const { statusCode, body } = response;
    // Proxies in front of Prometheus answer 401/502/… with HTML or plain text: judge the status first.
    let answer: PrometheusAnswer | undefined;
    try {
      answer = JSON.parse(body) as PrometheusAnswer;
    } catch {
      answer = undefined;
    }
    const reason = answer?.error ?? (body.slice(0, 200) || 'no reason given');
    if (statusCode === 401 || statusCode === 403) {
      throw new Error(`${this.#label} at ${this.#shown} refused the credentials (${statusCode}: ${reason}) — query: ${query}`);
    }
    if (statusCode >= 500 || statusCode === 429) {
      throw new TransientError(
        `${this.#label} at ${this.#shown} failed (${statusCode}${answer?.errorType ? ` ${answer.errorType}` : ''}: ${reason}) — query: ${query}`,
      );
    }
    if (statusCode >= 400) {
      const cause = new Error(`${answer?.errorType ?? 'error'}: ${reason}`);
      throw new Error(`Prometheus rejected the query (${statusCode}): ${reason} — query: ${query}`, { cause });
    }
    if (!answer)
      throw new Error(
        `${this.#label} at ${this.#shown} answered ${statusCode} with a body that is not JSON (${body.slice(0, 200)}) — query: ${query}`,
      );
    if (answer.status !== 'success') {
      throw new Error(`${this.#label} at ${this.#shown} answered status "${String(answer.status)}": ${reason} — query: ${query}`);
    }
    return answer.data;
  }

  #single(data: PrometheusAnswer['data'], query: string): MetricValue {
    const result = data?.result;
    switch (data?.resultType) {
      case 'scalar':
        return sampleValue((result as unknown[] | undefined)?.[1], query);
      case 'vector': {
        const series = (result ?? []) as Array<{ value?: unknown[] }>;
        if (series.length === 0) return null;
        if (series.length > 1) {
          throw new Error(`query returned ${series.length} series, expected one: aggregate it (e.g. sum(...)) — query: ${query}`);
        }
        return sampleValue(series[0]?.value?.[1], query);
      }
      default:
        throw new Error(`query returned a ${String(data?.resultType)}, expected a scalar or an instant vector — query: ${query}`);
    }
  }

  async #get(url: URL, query: string): Promise<RawResponse> {
    const isHttps = url.protocol === 'https:';
    const request = isHttps ? https.request : http.request;
    let headers = await this.#baseHeaders();
    if (this.#signer) {
      // The Host header is part of the signature: send the one that was signed.
      const unsigned = { ...headers, host: url.host };
      headers = { ...unsigned, ...(await this.#signer({ method: 'GET', url, headers: unsigned })) };
    }
    const options: https.RequestOptions = { method: 'GET', headers, timeout: this.timeoutMs };
    if (isHttps && this.#ca) options.ca = this.#ca;
    const where = `${this.#label} at ${this.#shown}`;

    return new Promise((resolve, reject) => {
      // One deadline for the whole exchange: the socket `timeout` only notices idle sockets.
      const deadline = setTimeout(() => req.destroy(new TimeoutSignal()), this.timeoutMs);
      const req = request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(deadline);
          resolve({ statusCode: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.on('timeout', () => req.destroy(new TimeoutSignal()));
      req.on('error', fail);
      req.end();

      function fail(error: Error): void {
        clearTimeout(deadline);
        if (error instanceof TimeoutSignal) {
          reject(
            new TransientError(`${where} did not answer within ${formatMs(options.timeout ?? 0)} — query: ${query}`, { cause: error }),
          );
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        if (code && TLS_CODES.has(code)) {
          // A certificate problem does not heal by retrying: say which one.
          reject(
            new Error(`${where}: TLS verification failed (${code}); set the server's CA as PEM in 'ca' — query: ${query}`, {
              cause: error,
            }),
          );
          return;
        }
        reject(new TransientError(`${where} is unreachable (${code ?? error.message}) — query: ${query}`, { cause: error }));
      }
    });
  }
}

class TimeoutSignal extends Error {
  constructor() {
    super('timed out');
    this.name = 'TimeoutSignal';
  }
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** RFC 3986 percent-encoding (encodeURIComponent leaves !'()* alone; SigV4 does not). */
function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Both arms' raw counters at one instant `at`, each sample stamped with its own scrape time
 * (`timestamp(<selector>)`: a look must know whether it saw a new scrape, and the query's
 * evaluation time says nothing about that), plus `envoy_server_uptime` of the same sources (a
 * restart is a drop in it). Every source (job/instance) counts both arms, so their windows line
 * up source by source. Queries come from `counterQueries` (lambdas/core/queries.ts).
 *
 * `historySeconds`: also read that much raw history of the request counters for Prepare — the
 * scrape interval (the median over series of their latest gap between samples) and the rates behind the printed
 * expectations. Never used for judging.
 */
export async function snapshotCounters(
  provider: PrometheusProvider,
  queries: { canary: ArmCounterQueries; primary: ArmCounterQueries },
  at: Date,
  options: { historySeconds?: number | undefined } = {},
): Promise<CounterSnapshot> {
  const arm = async (q: ArmCounterQueries): Promise<ArmCounters> => {
    const thresholds = Object.keys(q.slow);
    const [requests, errors, times, retries, ...slow] = await Promise.all([
      provider.series(q.requests, at),
      provider.series(q.errors, at),
      provider.series(`timestamp(${q.requests})`, at),
      q.retries ? provider.series(q.retries, at) : Promise.resolve(undefined),
      ...thresholds.map((t) => provider.series(q.slow[t] ?? '', at)),
    ]);
    // Every series of one source comes from the same scrape: stamp each with its source's newest sample time.
    const scrapedAt = new Map<string, number>();
    for (const t of times) {
      const source = sourceOf(t.labels);
      scrapedAt.set(source, Math.max(scrapedAt.get(source) ?? 0, Math.round(t.value * 1000)));
    }
    const stamp = (series: SeriesSample[]): SeriesSample[] => series.map((s) => ({ ...s, timestamp: scrapedAt.get(sourceOf(s.labels)) }));
    const out: ArmCounters = {
      requests: stamp(requests),
      errors: stamp(errors),
      slow: Object.fromEntries(thresholds.map((t, i) => [t, stamp(slow[i] ?? [])])),
    };
    // A gateway without a retry policy exports no retry series: absent, not zero.
    if (retries && retries.length) out.retries = stamp(retries);
    return out;
  };
  const sources = `(${queries.canary.requests}) or (${queries.primary.requests})`;
  const [canary, primary, uptime, history] = await Promise.all([
    arm(queries.canary),
    arm(queries.primary),
    provider.series(`max by (job, instance) (envoy_server_uptime and on (job, instance) (${sources}))`, at),
    options.historySeconds ? counterHistory(provider, queries, at, options.historySeconds) : Promise.resolve(undefined),
  ]);
  const snapshot: CounterSnapshot = { at: at.toISOString(), canary, primary };
  if (uptime.length) snapshot.uptime = uptime;
  if (history) snapshot.history = history;
  return snapshot;
}

/** Increase of one raw series over its samples (a drop is a restart from zero) and the span it covers. */
function increaseOf(samples: Array<[number, number]>): { increase: number; spanMs: number } {
  let increase = 0;
  for (let i = 1; i < samples.length; i++) {
    const [, before] = samples[i - 1] as [number, number];
    const [, now] = samples[i] as [number, number];
    increase += now >= before ? now - before : now;
  }
  const first = samples[0]?.[0] ?? 0;
  const last = samples.at(-1)?.[0] ?? 0;
  return { increase, spanMs: last - first };
}

/** Prepare's summary of the raw history of the request counters (the scrape interval, the rates): never judged on. */
export async function counterHistory(
  provider: PrometheusProvider,
  queries: { canary: Pick<ArmCounterQueries, 'requests'>; primary: Pick<ArmCounterQueries, 'requests' | 'errors'> },
  at: Date,
  seconds: number,
): Promise<CounterHistory> {
  const range = `[${Math.max(1, Math.round(seconds))}s]`;
  const [canary, primary, primaryErrors] = await Promise.all([
    provider.matrix(`${queries.canary.requests}${range}`, at),
    provider.matrix(`${queries.primary.requests}${range}`, at),
    provider.matrix(`${queries.primary.errors}${range}`, at),
  ]);
  // Each series' latest gaps (up to five): the interval in force now, even if the configuration
  // changed within the range, and one late scrape on a loaded server (a 3 s interval read as 3.4 s)
  // does not decide it alone — the median of the recent gaps does.
  const gaps: number[] = [];
  for (const series of primary) {
    const n = series.samples.length;
    for (let i = Math.max(1, n - 5); i < n; i++) gaps.push((series.samples[i]?.[0] ?? 0) - (series.samples[i - 1]?.[0] ?? 0));
  }
  gaps.sort((a, b) => a - b);
  const median = gaps.length ? (gaps[Math.floor(gaps.length / 2)] as number) : null;
  const rate = (all: typeof primary) =>
    all.reduce((total, series) => {
      const { increase, spanMs } = increaseOf(series.samples);
      return spanMs > 0 ? total + increase / (spanMs / 1000) : total;
    }, 0);
  const total = (all: typeof primary) => all.reduce((sum, series) => sum + increaseOf(series.samples).increase, 0);
  const primaryRequests = total(primary);
  return {
    seconds,
    scrapeIntervalSeconds: median === null ? null : median / 1000,
    canaryRps: rate(canary),
    primaryRps: rate(primary),
    primaryErrorRate: primaryRequests > 0 ? total(primaryErrors) / primaryRequests : null,
  };
}
