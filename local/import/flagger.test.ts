/**
 * The Flagger import on hand-written Canary files (test/fixtures/flagger): the spec it produces
 * passes validateSpec, and the report says what a migrating user needs to know.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { metricQueries } from '../../lambdas/core/queries.ts';
import { validateSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import { FlaggerImportError, goDurationMs, importFlaggerCanary } from './flagger.ts';
import type { FlaggerImport, ImportReport, ReportLine } from './flagger.ts';

const fixture = (name: string): unknown[] =>
  parseAllDocuments(readFileSync(new URL(`../../test/fixtures/flagger/${name}`, import.meta.url), 'utf8')).map(
    (document) => document.toJS() as unknown,
  );
const canaryOf = (name: string) => fixture(name).find((document) => (document as { kind?: string }).kind === 'Canary');

function validated(result: FlaggerImport): RolloutSpec {
  const checked = validateSpec(result.spec);
  if (!checked.ok) throw new Error(`spec is invalid: ${checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  expect(result.problems).toEqual([]);
  return checked.spec;
}

function line(lines: ReportLine[], flagger: string): ReportLine {
  const found = lines.find((l) => l.flagger === flagger);
  if (!found) throw new Error(`no report line for ${flagger} in: ${lines.map((l) => l.flagger).join(', ')}`);
  return found;
}

const flaggerPaths = (lines: ReportLine[]) => lines.map((l) => l.flagger);
const allLines = (report: ImportReport) => [...report.mapped, ...report.changed, ...report.unmapped];

/** Whether Sluice runs a feature yet: a later capability removes its "not supported yet", and the import follows. */
function supports(patch: (spec: Record<string, Record<string, unknown>>) => void): boolean {
  const base = importFlaggerCanary(canaryOf('podinfo.yaml'), { prometheusAddress: 'http://prometheus:9090' }).spec as unknown as Record<
    string,
    Record<string, unknown>
  >;
  const copy = structuredClone(base);
  patch(copy.spec as Record<string, Record<string, unknown>>);
  const result = validateSpec(copy);
  return result.ok || !result.problems.some((p) => p.message.endsWith('is not supported yet'));
}
const webhooksSupported = supports((spec) => {
  (spec.analysis as Record<string, unknown>).webhooks = [{ name: 'x', url: 'http://x/' }];
});

describe('sluice import flagger', () => {
  it('turns the Gloo tutorial podinfo Canary into a valid spec on the objects Flagger created', () => {
    // Prepare
    const canary = canaryOf('podinfo.yaml');
    // Act
    const result = importFlaggerCanary(canary, {
      cluster: { name: 'prod-eks', region: 'us-east-1' },
      prometheusAddress: 'http://flagger-prometheus.gloo-system:9090',
    });
    // Assess
    const spec = validated(result);
    expect(spec.metadata.name).toBe('podinfo');
    expect(spec.spec.cluster).toEqual({ name: 'prod-eks', region: 'us-east-1' });
    expect(spec.spec.router).toMatchObject({
      kind: 'RouteTable',
      name: 'podinfo',
      namespace: 'test',
      route: { routeTable: 'podinfo', namespace: 'test', index: 0 },
      primary: { upstream: { name: 'test-podinfo-primaryupstream-9898', namespace: 'test' } },
      canary: { upstream: { name: 'test-podinfo-canaryupstream-9898', namespace: 'test' } },
    });
    expect(spec.spec.promotion).toBe('template');
    expect(spec.spec.workload).toEqual({
      namespace: 'test',
      primary: 'podinfo-primary',
      canary: 'podinfo',
      scaleCanaryToZero: true,
      readyTimeout: '10m',
    });
    expect(spec.spec.strategy).toMatchObject({ stepWeight: 5, maxWeight: 50, interval: '10s', threshold: 5, stepWeightPromotion: 0 });
    expect(spec.spec.analysis.judge).toBe('threshold');
    expect(spec.spec.analysis.prometheus?.address).toBe('http://flagger-prometheus.gloo-system:9090');
    expect(spec.spec.analysis.metrics).toEqual([
      { name: 'request-success-rate', interval: '1m', thresholdRange: { min: 99 } },
      { name: 'request-duration', interval: '30s', thresholdRange: { max: 500 } },
    ]);
    // The report: built-ins map as is; the cluster and Prometheus came from the options, so nothing is assumed.
    expect(line(result.report.mapped, 'spec.analysis.metrics[1]').note).toMatch(/p99 in milliseconds/);
    expect(line(result.report.mapped, 'spec.service.port').note).toContain('test-podinfo-canaryupstream-9898');
    expect(flaggerPaths(result.report.changed)).not.toContain('(the cluster the Canary is in)');
    expect(line(result.report.unmapped, 'spec.autoscalerRef').note).toMatch(/podinfo-primary HPA/);
    expect(line(result.report.unmapped, 'spec.service.{targetPort}').note).toMatch(/creates no Services/);
  });

  it('keeps both tutorial webhooks 1:1, or defers them with a line each while Sluice does not run webhooks', () => {
    const result = importFlaggerCanary(canaryOf('podinfo.yaml'));
    const spec = validated(result);
    const expected = [
      {
        name: 'acceptance-test',
        type: 'pre-rollout',
        url: 'http://flagger-loadtester.test/',
        timeout: '10s',
        metadata: { type: 'bash', cmd: "curl -sd 'test' http://podinfo-canary:9898/token | grep token" },
      },
      {
        name: 'load-test',
        type: 'rollout',
        url: 'http://flagger-loadtester.test/',
        timeout: '5s',
        metadata: { type: 'cmd', cmd: 'hey -z 2m -q 5 -c 2 -host app.example.com http://gateway-proxy.gloo-system' },
      },
    ];
    if (webhooksSupported) {
      expect(spec.spec.analysis.webhooks).toEqual(expected);
      expect(line(result.report.mapped, 'spec.analysis.webhooks[1]').note).toMatch(/load tester/);
    } else {
      expect(spec.spec.analysis.webhooks).toBeUndefined();
      expect(result.deferred).toEqual([{ path: 'spec.analysis.webhooks', value: expected, reason: 'webhooks is not supported yet' }]);
      expect(line(result.report.unmapped, 'spec.analysis.webhooks[0]').note).toMatch(
        /pre-rollout webhook "acceptance-test" maps 1:1 .* webhooks is not supported yet: left out/,
      );
      expect(line(result.report.unmapped, 'spec.analysis.webhooks[1]').note).toMatch(/judged on real traffic only/);
    }
    // Without options, what the Canary cannot say is listed as assumed.
    expect(line(result.report.changed, '(the cluster the Canary is in)').note).toMatch(/--cluster NAME --region R .* --kube-context CTX/);
    expect(line(result.report.changed, '(Flagger -metrics-server flag)').note).toMatch(/http:\/\/prometheus:9090 assumed/);
    expect(line(result.report.changed, 'spec.progressDeadlineSeconds (default 600)').sluice).toBe('spec.workload.readyTimeout');
  });

  it('caps a progressDeadlineSeconds longer than the state machine allows at 1h, saying so, instead of a promotion killed mid-wait', () => {
    const canary = structuredClone(canaryOf('podinfo.yaml')) as { spec: Record<string, unknown> };
    canary.spec.progressDeadlineSeconds = 7200;
    const result = importFlaggerCanary(canary, { prometheusAddress: 'http://prometheus:9090' });
    const spec = validated(result);
    expect(spec.spec.workload?.readyTimeout).toBe('1h');
    expect(line(result.report.changed, 'spec.progressDeadlineSeconds').note).toMatch(/capped from 7200s/);
  });

  it('maps stepWeights, Go durations and the deprecated threshold, and lists every webhook type, alert and gate', () => {
    const result = importFlaggerCanary(canaryOf('step-weights.yaml'), { prometheusAddress: 'http://prometheus:9090' });
    const spec = validated(result);
    expect(spec.spec.router.name).toBe('checkout-api');
    expect(spec.spec.router.primary.upstream.name).toBe('shop-checkout-api-primaryupstream-8080');
    expect(spec.spec.workload).toMatchObject({ primary: 'checkout-primary', canary: 'checkout', readyTimeout: '2m' });
    expect(spec.spec.strategy).toMatchObject({ stepWeights: [1, 2, 10, 80], interval: '90s', threshold: 3 });
    expect(spec.spec.analysis.metrics).toEqual([{ name: 'request-success-rate', interval: '1m', thresholdRange: { min: 99 } }]);
    expect(line(result.report.changed, 'spec.analysis.metrics[0].threshold').note).toMatch(
      /deprecated threshold 99 read as thresholdRange.min/,
    );

    // confirm-traffic-increase has no Sluice type: dropped whatever Sluice runs.
    expect(line(result.report.unmapped, 'spec.analysis.webhooks[3]').note).toMatch(
      /confirm-traffic-increase: Sluice has no such webhook type/,
    );
    const hooks = webhooksSupported
      ? spec.spec.analysis.webhooks
      : (result.deferred.find((d) => d.path === 'spec.analysis.webhooks')?.value as Array<{
          name: string;
          type: string;
          metadata?: Record<string, string>;
        }>);
    expect(hooks?.map((hook) => `${hook.type}:${hook.name}`)).toEqual([
      'confirm-rollout:gate',
      'pre-rollout:smoke',
      'rollout:load',
      'confirm-promotion:promotion-gate',
      'rollback:rollback-switch',
      'post-rollout:cleanup',
      'event:audit',
    ]);
    expect(hooks?.[2]?.metadata).toEqual({ cmd: 'hey -z 1m -q 10 -c 2 http://checkout-canary.shop:8080/', retries: '3' });

    // A real field, never a comment: traffic steps back to the promoted primary (the spec validated above).
    expect(spec.spec.strategy.stepWeightPromotion).toBe(20);
    expect(result.deferred).toEqual([]);
    expect(line(result.report.mapped, 'spec.analysis.stepWeightPromotion').note).toMatch(
      /20: traffic moves back to the promoted primary in steps/,
    );
    expect(line(result.report.unmapped, 'spec.analysis.alerts').note).toMatch(/AlertProvider objects \(on-call-slack\)/);
    expect(line(result.report.unmapped, 'spec.analysis.primaryReadyThreshold').note).toMatch(/50%/);
    expect(line(result.report.mapped, 'spec.analysis.canaryReadyThreshold').note).toMatch(/100%/);
    expect(line(result.report.unmapped, 'spec.revertOnDeletion').note).toMatch(/set it to false before deleting the Canary/);
    expect(line(result.report.unmapped, 'spec.analysis.webhooks[6].muteAlert')).toBeDefined();
  });

  it('imports an A/B test only with the provider stated, as a weighted canary, with iterations and match as fields and affinity left out', () => {
    const canary = canaryOf('ab-testing.yaml');
    expect(() => importFlaggerCanary(canary)).toThrow(/spec.provider is not set.*--mesh-provider gloo/);

    const result = importFlaggerCanary(canary, { meshProvider: 'gloo', namespace: 'web', prometheusAddress: 'http://prometheus:9090' });
    const spec = validated(result);
    expect(spec.spec.router.primary.upstream).toEqual({ name: 'web-frontend-primaryupstream-80', namespace: 'web' });
    expect(spec.spec.workload?.namespace).toBe('web');
    // The A/B test arrives as fields: iterations and match, no weight steps.
    expect(spec.spec.strategy.stepWeights).toBeUndefined();
    expect(spec.spec.strategy.iterations).toBe(10);
    expect(spec.spec.strategy.match).toEqual([{ headers: { 'x-canary': { exact: 'insider' } } }]);
    expect(spec.spec.analysis.judge).toBe('threshold');
    expect(line(result.report.mapped, 'spec.analysis.iterations').note).toMatch(/10 looks of interval at the A\/B stage/);
    expect(line(result.report.changed, 'spec.analysis.match').note).toMatch(
      /ahead of the weighted route.*RE2.*never the two with each other/,
    );
    expect(line(result.report.changed, '(Flagger -mesh-provider flag)').note).toMatch(/taken as gloo/);
    expect(line(result.report.changed, 'metadata.namespace').note).toMatch(/web \(--namespace\)/);
    expect(spec.spec.strategy.sessionAffinity).toBeUndefined();
    expect(line(result.report.unmapped, 'spec.analysis.sessionAffinity').note).toMatch(
      /A\/B testing and Blue\/Green decide who gets the canary/,
    );
    expect(flaggerPaths(result.report.unmapped)).not.toContain('spec.analysis.match');
  });

  it('imports sessionAffinity and stepWeightPromotion as fields of a weighted canary; with --upstream-group affinity is left out, saying why', () => {
    // Prepare: the gradual-promotion Canary with Flagger's session affinity.
    const canary = structuredClone(canaryOf('step-weights.yaml')) as { spec: { analysis: Record<string, unknown> } };
    canary.spec.analysis.sessionAffinity = { cookieName: 'flagger-cookie', maxAge: 21600 };
    const options = { prometheusAddress: 'http://prometheus:9090' };
    // Act
    const onRoute = importFlaggerCanary(canary, options);
    const onGroup = importFlaggerCanary(canary, { ...options, upstreamGroup: true });
    // Assess
    const spec = validated(onRoute);
    expect(spec.spec.strategy).toMatchObject({ stepWeightPromotion: 20, sessionAffinity: { cookieName: 'flagger-cookie', maxAge: 21600 } });
    expect(line(onRoute.report.changed, 'spec.analysis.sessionAffinity').note).toMatch(/cookie flagger-cookie, Max-Age 21600 s/);
    expect(flaggerPaths(onRoute.report.unmapped)).not.toContain('spec.analysis.sessionAffinity');
    expect(validated(onGroup).spec.strategy.sessionAffinity).toBeUndefined();
    expect(line(onGroup.report.unmapped, 'spec.analysis.sessionAffinity').note).toMatch(
      /add spec.router.route and spec.strategy.sessionAffinity/,
    );
  });

  it("imports Flagger's Blue/Green (iterations, no match) as blueGreen, and keeps only the header and query matchers Sluice can route by", () => {
    // Prepare
    const base = canaryOf('ab-testing.yaml') as { spec: { analysis: Record<string, unknown> } };
    const blueGreen = structuredClone(base);
    delete blueGreen.spec.analysis.match;
    delete blueGreen.spec.analysis.sessionAffinity;
    blueGreen.spec.analysis.stepWeight = 10;
    const mixed = structuredClone(base);
    mixed.spec.analysis.match = [
      { headers: { Cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' }, 'x-two': { exact: 'a', prefix: 'b' } }, uri: { prefix: '/api' } },
      { queryParams: { beta: { exact: 'on' } } },
    ];
    const options = { meshProvider: 'gloo', namespace: 'web', prometheusAddress: 'http://prometheus:9090' };
    // Act
    const bg = importFlaggerCanary(blueGreen, options);
    const ab = importFlaggerCanary(mixed, options);
    // Assess
    const bgSpec = validated(bg);
    expect(bgSpec.spec.strategy).toMatchObject({ iterations: 10, blueGreen: {} });
    expect(bgSpec.spec.strategy.stepWeight).toBeUndefined();
    expect(line(bg.report.changed, 'spec.analysis.iterations').note).toMatch(
      /Blue\/Green.*one switch moves all traffic.*bypasses Envoy's metrics/,
    );
    expect(line(bg.report.unmapped, 'spec.analysis.{stepWeight}').note).toMatch(/ignored by Flagger when iterations is set/);
    const abSpec = validated(ab);
    expect(abSpec.spec.strategy.match).toEqual([
      { headers: { cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' } } },
      { queryParams: { beta: { exact: 'on' } } },
    ]);
    expect(line(ab.report.unmapped, 'spec.analysis.match[0].headers.x-two').note).toMatch(
      /exactly one of exact, prefix, suffix, regex; got exact, prefix/,
    );
    expect(line(ab.report.unmapped, 'spec.analysis.match[0].uri').note).toMatch(/headers and query parameters only/);
  });

  it('resolves a MetricTemplate from the same file, marks a missing one for pasting, and turns mirror into a shadow stage', () => {
    const [template, canary] = fixture('metric-template.yaml');
    const result = importFlaggerCanary(canary, { metricTemplates: [template] });
    const spec = validated(result);
    const [notFound, lag] = spec.spec.analysis.metrics;
    expect(notFound?.name).toBe('404s percentage');
    expect(notFound?.thresholdRange).toEqual({ max: 5 });
    // Flagger's {{ target }} is targetRef.name: written in; {{ namespace }} and {{ interval }} stay Sluice variables.
    expect(notFound?.query).toContain('kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+');
    expect(notFound?.query).toContain('kubernetes_namespace="{{namespace}}"');
    expect(notFound?.query).not.toContain('target');
    expect(notFound?.provider).toBeUndefined(); // the template's address is the metricsServer's
    expect(line(result.report.mapped, 'spec.analysis.metrics[0].templateRef').note).toContain('MetricTemplate test/not-found-percentage');

    expect(lag?.name).toBe('queue-lag');
    expect(line(result.report.changed, 'spec.analysis.metrics[1].templateRef').note).toMatch(
      /MetricTemplate flagger-system\/queue-lag is not in the file: paste its spec.query into spec.analysis.metrics\[1\].query/,
    );
    // The placeholder cannot pass a threshold by accident: rendering it fails, naming what to paste.
    expect(() => metricQueries(spec, lag as RolloutSpec['spec']['analysis']['metrics'][number])).toThrow(
      /paste_the_query_of_MetricTemplate_flagger_system_queue_lag/,
    );

    expect(spec.spec.analysis.prometheus?.address).toBe('http://flagger-prometheus.gloo-system:9090');
    expect(spec.spec.strategy.stepWeights).toEqual([20, 40, 50]);
    expect(line(result.report.changed, 'spec.analysis.stepWeight, spec.analysis.maxWeight').note).toMatch(/not a multiple of 20/);
    expect(spec.spec.strategy.shadow).toEqual({ percentage: 50, duration: '30s' });
    expect(line(result.report.changed, 'spec.analysis.mirror, mirrorWeight').note).toMatch(
      /never mirrored: Sluice really will, and mirrored requests repeat writes/,
    );
  });

  it('drives an UpstreamGroup over discovered upstreams for Flagger before 1.6, without a shadow it has no route for', () => {
    const [template, canary] = fixture('metric-template.yaml');
    const document = structuredClone(canary) as { spec: { provider: string } };
    document.spec.provider = 'gloo:gloo-discovery';
    const result = importFlaggerCanary(document, { upstreamGroup: true, metricTemplates: [template] });
    const spec = validated(result);
    expect(spec.spec.router).toMatchObject({
      kind: 'UpstreamGroup',
      name: 'podinfo',
      namespace: 'test',
      primary: { upstream: { name: 'test-podinfo-primary-9898', namespace: 'gloo-discovery' } },
      canary: { upstream: { name: 'test-podinfo-canary-9898', namespace: 'gloo-discovery' } },
    });
    expect(spec.spec.strategy.shadow).toBeUndefined();
    expect(line(result.report.unmapped, 'spec.analysis.mirror').note).toMatch(/add spec.router.route and spec.strategy.shadow by hand/);
  });

  it('refuses what it cannot import with one clear line', () => {
    expect(() => importFlaggerCanary(canaryOf('istio.yaml'))).toThrow(
      new FlaggerImportError('provider "istio" is not supported: Sluice drives Gloo Edge only (a Canary with provider gloo)'),
    );
    expect(() => importFlaggerCanary(parse('apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }'))).toThrow(
      /expected a Flagger Canary .* found apiVersion apps\/v1, kind Deployment/,
    );
    expect(() => importFlaggerCanary('just text')).toThrow(FlaggerImportError);
    const daemonSet = structuredClone(canaryOf('podinfo.yaml')) as { spec: { targetRef: { kind: string } } };
    daemonSet.spec.targetRef.kind = 'DaemonSet';
    expect(() => importFlaggerCanary(daemonSet)).toThrow(/targetRef.kind DaemonSet: Sluice promotes Deployments only/);
    const noPort = structuredClone(canaryOf('podinfo.yaml')) as { spec: { service: Record<string, unknown> } };
    delete noPort.spec.service.port;
    expect(() => importFlaggerCanary(noPort)).toThrow(/spec.service.port/);
  });

  it('accounts for every field of the Canary: each one appears in the report', () => {
    const result = importFlaggerCanary(canaryOf('step-weights.yaml'));
    const paths = allLines(result.report)
      .map((l) => l.flagger)
      .join('\n');
    for (const field of [
      'progressDeadlineSeconds',
      'revertOnDeletion',
      'interval',
      'threshold',
      'stepWeights',
      'stepWeightPromotion',
      'canaryReadyThreshold',
      'primaryReadyThreshold',
      'alerts',
      'metrics[0]',
      'webhooks[7]',
    ]) {
      expect(paths).toContain(field);
    }
    const unknown = structuredClone(canaryOf('podinfo.yaml')) as { spec: Record<string, unknown> & { analysis: Record<string, unknown> } };
    unknown.spec.analysis.canaryAnalysisV2 = true;
    expect(line(importFlaggerCanary(unknown).report.unmapped, 'spec.analysis.canaryAnalysisV2').note).toMatch(
      /not a field the importer knows/,
    );
  });

  it('reads Go durations the way Flagger writes them', () => {
    expect(goDurationMs('1m30s')).toBe(90_000);
    expect(goDurationMs('1.5h')).toBe(5_400_000);
    expect(goDurationMs('500ms')).toBe(500);
    expect(goDurationMs('soon')).toBeUndefined();
  });
});
