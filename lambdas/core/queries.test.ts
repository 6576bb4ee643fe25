import { describe, expect, it } from 'vitest';
import {
  QUERY_VARIABLES,
  builtInQuery,
  checkLatencyThreshold,
  counterQueries,
  envoyClusterName,
  leMatcher,
  metricQueries,
  queryVariables,
  renderQuery,
} from './queries.ts';
import { parseSpec, type RolloutSpecInput } from './spec.ts';
import { TEMPLATE_VARIABLES } from './spec-checks.ts';

function spec(
  overrides: { envoyClusterName?: string; workload?: boolean; metrics?: NonNullable<RolloutSpecInput['spec']['analysis']>['metrics'] } = {},
) {
  return parseSpec({
    apiVersion: 'sluice.dev/v1',
    kind: 'Rollout',
    metadata: { name: 'podinfo' },
    spec: {
      cluster: { kubeconfigContext: 'kind-gloo' },
      router: {
        name: 'podinfo',
        namespace: 'gloo-system',
        ...(overrides.envoyClusterName ? { envoyClusterName: overrides.envoyClusterName } : {}),
        primary: { upstream: { name: 'default-podinfo-primary-9898', namespace: 'gloo-system' } },
        canary: { upstream: { name: 'default-podinfo-canary-9898', namespace: 'gloo-system' } },
      },
      ...(overrides.workload === false ? {} : { workload: { namespace: 'default', primary: 'podinfo-primary', canary: 'podinfo' } }),
      strategy: { stepWeights: [10, 50], interval: '2m' },
      analysis: {
        judge: 'threshold',
        prometheus: { address: 'http://prometheus:9090' },
        metrics: overrides.metrics ?? [
          { name: 'request-success-rate', thresholdRange: { min: 99 } },
          { name: 'request-duration', interval: '30s', thresholdRange: { max: 500 } },
        ],
      },
    },
  });
}

describe('envoyClusterName', () => {
  it('renders the default Gloo naming <upstream>_<namespace>', () => {
    expect(envoyClusterName('{{upstream}}_{{namespace}}', { name: 'default-podinfo-canary-9898', namespace: 'gloo-system' })).toBe(
      'default-podinfo-canary-9898_gloo-system',
    );
  });

  it('follows a custom template from the spec', () => {
    const s = spec({ envoyClusterName: 'kube_{{ namespace }}_{{ upstream }}' });
    expect(queryVariables(s, s.spec.analysis.metrics[0]!).canaryCluster).toBe('kube_gloo-system_default-podinfo-canary-9898');
  });

  it('names an unknown variable in the template', () => {
    expect(() => envoyClusterName('{{upstream}}_{{port}}', { name: 'a', namespace: 'b' })).toThrow(
      /envoyClusterName.*unknown variable \{\{port\}\}/,
    );
  });
});

describe('renderQuery', () => {
  it('fills every variable, with or without spaces in the braces', () => {
    expect(
      renderQuery('x{ns="{{namespace}}",c="{{ canary }}"}[{{interval}}]', { namespace: 'default', canary: 'c1', interval: '1m' }),
    ).toBe('x{ns="default",c="c1"}[1m]');
  });

  it('names an unknown variable and lists the known ones', () => {
    expect(() => renderQuery('rate(x{app="{{app}}"}[1m])', { namespace: 'default' })).toThrow(
      'unknown variable {{app}} (known: namespace)',
    );
  });

  it('names a variable that has no value', () => {
    expect(() => renderQuery('x{ns="{{namespace}}"}', { namespace: undefined })).toThrow('{{namespace}} has no value');
  });

  it('refuses a malformed variable instead of sending it to Prometheus', () => {
    expect(() => renderQuery('x{ns="{{ 1ns }}"}', { namespace: 'a' })).toThrow(/malformed variable/);
  });
});

describe('queryVariables', () => {
  it('gives the variables templates allow from the spec', () => {
    const s = spec();
    expect(queryVariables(s, s.spec.analysis.metrics[0]!)).toEqual({
      namespace: 'default',
      target: 'podinfo',
      interval: '2m',
      primary: 'default-podinfo-primary-9898',
      canary: 'default-podinfo-canary-9898',
      primaryCluster: 'default-podinfo-primary-9898_gloo-system',
      canaryCluster: 'default-podinfo-canary-9898_gloo-system',
    });
  });

  it("uses the metric's own interval when it has one", () => {
    const s = spec();
    expect(queryVariables(s, s.spec.analysis.metrics[1]!).interval).toBe('30s');
  });

  it("falls back to the router's namespace without a workload", () => {
    const s = spec({ workload: false });
    expect(queryVariables(s, s.spec.analysis.metrics[0]!).namespace).toBe('gloo-system');
  });
});

describe('built-in queries', () => {
  it('success rate of the canary: non-5xx over all attempts (answers and retries) of its Envoy cluster, in percent', () => {
    const s = spec();
    const { canary, primary } = metricQueries(s, s.spec.analysis.metrics[0]!);
    expect(canary).toBe(
      '(sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name="default-podinfo-canary-9898_gloo-system",envoy_response_code!~"5.."}[2m])) or on() vector(0))' +
        ' / (sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name="default-podinfo-canary-9898_gloo-system"}[2m]))' +
        ' + (sum(rate(envoy_cluster_upstream_rq_retry{envoy_cluster_name="default-podinfo-canary-9898_gloo-system"}[2m])) or on() vector(0))) * 100',
    );
    expect(primary).toContain('envoy_cluster_name="default-podinfo-primary-9898_gloo-system"');
    expect(primary).not.toContain('canary');
  });

  it('p99 duration from the Envoy histogram, by le', () => {
    const s = spec();
    const { canary } = metricQueries(s, s.spec.analysis.metrics[1]!);
    expect(canary).toBe(
      'histogram_quantile(0.99, sum by (le) (rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="default-podinfo-canary-9898_gloo-system"}[30s])))',
    );
  });

  it('keeps the side in the template for the primary', () => {
    expect(builtInQuery('request-duration', 'primary')).toContain('{{primaryCluster}}');
    expect(builtInQuery('request-success-rate', 'canary')).toContain('{{canaryCluster}}');
  });
});

describe('custom queries', () => {
  it('render with the variables and get no primary query', () => {
    const s = spec({
      metrics: [
        {
          name: 'errors',
          query: 'sum(rate(http_errors{namespace="{{namespace}}",app="{{target}}",cluster="{{canaryCluster}}"}[{{interval}}]))',
          thresholdRange: { max: 1 },
        },
      ],
    });
    expect(metricQueries(s, s.spec.analysis.metrics[0]!)).toEqual({
      canary: 'sum(rate(http_errors{namespace="default",app="podinfo",cluster="default-podinfo-canary-9898_gloo-system"}[2m]))',
    });
  });

  it('name the metric when a variable is unknown: at validate (the field), and again at render for a spec that skipped validation', () => {
    const metrics = [{ name: 'errors', query: 'sum(x{pod="{{pod}}"})', thresholdRange: { max: 1 } }];
    expect(() => spec({ metrics })).toThrow(
      'spec.analysis.metrics[0].query: uses unknown variable {{pod}} (known: namespace, target, interval, primary, canary, primaryCluster, canaryCluster)',
    );
    const s = spec();
    const metric = { ...metrics[0]! };
    expect(() => metricQueries(s, metric)).toThrow('metric "errors": template uses unknown variable {{pod}}');
    // One list of variables: the validator's and the renderer's agree.
    expect([...TEMPLATE_VARIABLES]).toEqual([...QUERY_VARIABLES]);
  });
});

describe('counterQueries (raw counters for the sequential judge)', () => {
  it('asks for every series of each arm, without rate, errors as any 5xx, retried attempts apart', () => {
    const queries = counterQueries(spec(), [500]);

    expect(queries.canary).toEqual({
      requests: 'envoy_cluster_upstream_rq{envoy_cluster_name="default-podinfo-canary-9898_gloo-system"}',
      errors: 'envoy_cluster_upstream_rq{envoy_cluster_name="default-podinfo-canary-9898_gloo-system",envoy_response_code=~"5.."}',
      slow: {
        '500':
          'envoy_cluster_upstream_rq_time_count{envoy_cluster_name="default-podinfo-canary-9898_gloo-system"} - ignoring(le) ' +
          'envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="default-podinfo-canary-9898_gloo-system",le=~"500|500[.]0|5e[+]02"}',
      },
      retries: 'envoy_cluster_upstream_rq_retry{envoy_cluster_name="default-podinfo-canary-9898_gloo-system"}',
    });
    expect(queries.primary.requests).toBe('envoy_cluster_upstream_rq{envoy_cluster_name="default-podinfo-primary-9898_gloo-system"}');
  });

  it("matches a boundary however the server spells it (Envoy's 3.6e+06, Prometheus 3's 0.5)", () => {
    const matches = (ms: number, spelled: string) => new RegExp(`^(?:${leMatcher(ms)})$`).test(spelled);

    expect(matches(3600000, '3.6e+06')).toBe(true);
    expect(matches(3600000, '3600000')).toBe(true);
    expect(matches(500, '500.0')).toBe(true);
    expect(matches(0.5, '0.5')).toBe(true);
    expect(matches(500, '5000')).toBe(false);
  });

  it('refuses a threshold that is not a bucket boundary, naming the nearest ones', () => {
    expect(() => checkLatencyThreshold(300)).toThrow(
      'latency threshold 300 ms is not a histogram bucket boundary: the nearest are 250 and 500',
    );
    expect(() => counterQueries(spec(), [500, 4000000])).toThrow('the nearest are 3600000 (');
  });
});
