/**
 * In-code stand-ins for the flow tests: a router that records every write (and can fail on cue)
 * and scripted metrics. The public schema gets no fake router; tests inject these in code.
 */
import { ConflictError, TransientError } from '../../lambdas/core/errors.ts';
import type { AffinityWrite, MetricProvider, TrafficRouter } from '../../lambdas/core/ports.ts';
import type { MetricReading } from '../../lambdas/core/verdict.ts';
import type { Weights } from '../../lambdas/core/records.ts';
import type { MatchRule } from '../../lambdas/core/match.ts';
import type { AffinityCookie } from '../../lambdas/core/affinity.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import type { ClusterDeps, MetricDeps } from '../../lambdas/app/deps.ts';

export class RecordingRouter implements TrafficRouter {
  weights: Weights;
  readonly writes: Weights[] = [];
  shadow: { percentage: number } | null = null;
  /** Errors thrown by the next setWeights calls, in order. */
  readonly failNextWrites: Error[] = [];
  /** Errors thrown by the getWeights calls that follow the next write, in order (a read-back that times out). */
  readonly failReadsAfterWrite: Error[] = [];
  #readsToFail: Error[] = [];

  constructor(scale = 100) {
    this.weights = { primary: scale, canary: 0 };
  }

  async reconcile(): Promise<void> {}

  async getWeights(): Promise<Weights> {
    const failure = this.#readsToFail.shift();
    if (failure) throw failure;
    return { ...this.weights };
  }

  async setWeights(next: Weights, expected: Weights): Promise<void> {
    const failure = this.failNextWrites.shift();
    if (failure) throw failure;
    if (next.primary + next.canary <= 0) throw new Error('all-zero weights');
    if (expected.primary !== this.weights.primary || expected.canary !== this.weights.canary) {
      throw new ConflictError(
        `weights are ${JSON.stringify(this.weights)}, expected ${JSON.stringify(expected)}: someone else is steering`,
      );
    }
    this.weights = { ...next };
    this.writes.push({ ...next });
    this.#readsToFail = this.failReadsAfterWrite.splice(0);
  }

  async setShadow(shadow: { percentage: number } | null): Promise<void> {
    this.shadow = shadow;
  }

  /** The A/B rules in force (null: no match route). */
  match: readonly MatchRule[] | null = null;

  async setMatch(rules: readonly MatchRule[] | null): Promise<void> {
    this.match = rules;
  }

  /** The session-affinity cookie in force (null: no Set-Cookie headers, no cookie route). */
  affinity: AffinityCookie | null = null;

  async setAffinity(cookie: AffinityCookie | null, options: AffinityWrite = {}): Promise<void> {
    if ((options.scope ?? 'all') === 'all') this.affinity = cookie;
  }

  canaryWeights(): number[] {
    return this.writes.map((w) => w.canary);
  }
}

export function recordingCluster(router: RecordingRouter): ClusterDeps {
  return { routerFor: async () => router, workloadFor: async () => null };
}

export type Script = (look: number, spec: RolloutSpec) => Promise<MetricReading[]> | MetricReading[];

/** Metrics that answer from a script (one call per look); `online` decides the preflight. */
export function scriptedMetrics(script: Script, options: { online?: () => Promise<void> } = {}): MetricDeps & { looks: () => number } {
  let looks = 0;
  const provider: MetricProvider = {
    isOnline: options.online ?? (async () => {}),
    runQuery: async () => null,
  };
  return {
    providersFor: () => [provider],
    readMetrics: async (spec) => script(looks++, spec),
    looks: () => looks,
  };
}

export const successRate = (value: number | null, primaryValue: number | null = 100): MetricReading => ({
  name: 'request-success-rate',
  value,
  primaryValue,
  thresholdRange: { min: 99 },
});

export const transient = (message = 'UpstreamGroup gloo-system/web patch failed: 503') => new TransientError(message);
