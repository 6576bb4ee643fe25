/**
 * A web metric (like Argo Rollouts' `web` provider): GET a URL that answers JSON and take one
 * number out of it with a JSONPath expression. The query a metric sends is the URL (with the
 * template variables filled in); the provider's own URL is the one `isOnline` checks.
 *
 * A path that matches nothing (or JSON null) is no data; a match that is not a number is an error
 * naming the path, never read as zero. Unreachable servers, timeouts, 5xx and 429 are
 * TransientErrors (retried); other 4xx are plain errors.
 */
import { JSONPath } from 'jsonpath-plus';
import { parseDuration } from '../../core/duration.ts';
import { TransientError } from '../../core/errors.ts';
import type { MetricProvider } from '../../core/ports.ts';
import type { MetricValue } from '../../core/verdict.ts';
import { redactUrl } from '../../core/secrets.ts';
import type { SecretString } from '../../core/secrets.ts';
import { resolveHeaders } from '../secrets/resolver.ts';

export interface WebProviderOptions {
  url: string;
  jsonPath: string;
  /** Values or references (an API key), resolved at the first request. */
  headers?: Record<string, SecretString> | undefined;
  /** A duration such as `10s` (default), or milliseconds. */
  timeout?: string | number | undefined;
}

export class WebProvider implements MetricProvider {
  readonly url: string;
  readonly jsonPath: string;
  readonly timeoutMs: number;
  readonly #headerSpec: Record<string, SecretString> | undefined;
  #headers: Promise<Record<string, string>> | undefined;

  constructor(options: WebProviderOptions) {
    this.url = options.url;
    this.jsonPath = options.jsonPath;
    this.timeoutMs = typeof options.timeout === 'number' ? options.timeout : parseDuration(options.timeout ?? '10s');
    this.#headerSpec = options.headers;
  }

  /** The URL answers 2xx with JSON (the value itself may be missing at this moment). */
  async isOnline(): Promise<void> {
    await this.#fetchJson(this.url);
  }

  /** GETs `url` (the metric's rendered URL; default: the provider's) and extracts the value at the JSONPath. */
  async runQuery(url: string = this.url): Promise<MetricValue> {
    const json = await this.#fetchJson(url || this.url);
    return extractNumber(json, this.jsonPath, url || this.url);
  }

  async #fetchJson(rawUrl: string): Promise<unknown> {
    // Messages show the URL without userinfo or query string: either may carry a token.
    const url = redactUrl(rawUrl);
    this.#headers ??= resolveHeaders(this.#headerSpec, 'web metric headers').then((h) => ({ Accept: 'application/json', ...h }));
    const headers = await this.#headers.catch((error: unknown) => {
      this.#headers = undefined;
      throw error;
    });
    let response: Response;
    try {
      response = await fetch(rawUrl, { headers, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'follow' });
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError')
        throw new TransientError(`web metric ${url} did not answer within ${this.timeoutMs} ms`, { cause: error });
      const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      throw new TransientError(`web metric ${url} is unreachable (${code ?? (error as Error).message})`, { cause: error });
    }
    const body = await response.text();
    if (response.status >= 500 || response.status === 429)
      throw new TransientError(`web metric ${url} failed (${response.status}: ${body.slice(0, 200)})`);
    if (!response.ok) throw new Error(`web metric ${url} answered ${response.status}: ${body.slice(0, 200)}`);
    try {
      return JSON.parse(body) as unknown;
    } catch (error) {
      throw new Error(`web metric ${url} answered ${response.status} with a body that is not JSON (${body.slice(0, 200)})`, {
        cause: error,
      });
    }
  }
}

/** The one number at `path` in `json`; null when the path matches nothing or JSON null. */
export function extractNumber(json: unknown, path: string, where: string): MetricValue {
  let matches: unknown[];
  try {
    matches = JSONPath({ path, json: json as object, wrap: true, eval: 'safe' }) as unknown[];
  } catch (error) {
    throw new Error(`web metric ${where}: JSONPath ${path} cannot be evaluated: ${(error as Error).message}`, { cause: error });
  }
  if (matches.length === 0) return null;
  if (matches.length > 1) throw new Error(`web metric ${where}: JSONPath ${path} matched ${matches.length} values, expected one`);
  const value = matches[0];
  if (value === null || value === undefined) return null;
  if (typeof value !== 'number')
    throw new Error(`web metric ${where}: JSONPath ${path} is ${JSON.stringify(value).slice(0, 100)}, not a number`);
  return value;
}
