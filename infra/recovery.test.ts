/**
 * The reconciler's schedule and the alarms that tell someone, read from
 * the synthesized template (no bundling; cdk-nag runs).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.ts';
import type { SluiceStack } from './sluice-stack.ts';
import { OUTPUTS } from './sluice-stack.ts';

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
}
type Template = { Resources: Record<string, Resource>; Outputs?: Record<string, { Value: unknown }> };

const outdir = mkdtempSync(join(tmpdir(), 'sluice-cdk-recovery-'));
let stack: SluiceStack;
let template: Template;
const ref = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
const resource = (construct: IConstruct) => template.Resources[ref(construct)]!;

beforeAll(() => {
  // The shipped example with its placeholder address filled in, on a named cluster, as a user deploys it.
  const registryDir = mkdtempSync(join(outdir, 'rollouts-'));
  const example = readFileSync(join(import.meta.dirname, '..', 'rollouts', 'podinfo.yaml'), 'utf8').replace(
    'https://prometheus.replace-me.invalid',
    'https://prometheus.example.com',
  );
  writeFileSync(join(registryDir, 'podinfo.yaml'), example);
  const built = buildApp({
    outdir,
    context: { 'aws:cdk:bundling-stacks': [], clusterName: 'prod-eks', clusterRegion: 'us-east-1', registryDir },
  });
  stack = built.stack;
  template = built.app.synth().getStackByName(stack.stackName).template as Template;
}, 300_000);

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('SluiceRecovery', () => {
  it('runs the reconciler every minute from a rule created disabled, which Prepare may enable and the reconciler disable', () => {
    const { recovery, functions } = stack.orchestrator;
    const rule = resource(recovery.schedule);
    expect(rule.Properties).toMatchObject({ ScheduleExpression: 'rate(1 minute)', State: 'DISABLED' });
    expect(JSON.stringify(rule.Properties.Targets)).toContain(ref(functions.reconciler));
    const env = (fn: IConstruct) => (resource(fn).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env(functions.prepare).SLUICE_RECONCILER_RULE).toBe(rule.Properties.Name);
    expect(env(functions.reconciler).SLUICE_RECONCILER_RULE).toBe(rule.Properties.Name);
    expect(env(functions.reconciler).SLUICE_STATE_MACHINE_ARN).toEqual({ Ref: ref(stack.orchestrator.stateMachine) });
    const policies = JSON.stringify(Object.values(template.Resources).filter((r) => r.Type === 'AWS::IAM::Policy'));
    expect(policies).toContain('"Action":"events:EnableRule"');
    expect(policies).toContain('"Action":["events:EnableRule","events:DisableRule"]');
    expect(policies).toContain('"Action":"states:DescribeExecution"');
  });

  it('alarms, with the alert topic as their action, on dead letters, RollbackFailed, Rollout Stuck and reconciler findings', () => {
    const { recovery } = stack.orchestrator;
    const topic = ref(recovery.topic);
    for (const alarm of Object.values(recovery.alarms)) {
      expect(resource(alarm).Properties).toMatchObject({
        AlarmActions: [{ Ref: topic }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    }
    expect(resource(recovery.alarms.safetyNetDeadLetters).Properties).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible' });
    expect(resource(recovery.alarms.reconcilerFindings).Properties).toMatchObject({
      Namespace: 'Sluice',
      MetricName: 'ReconcilerFindings',
    });
    const rules = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Events::Rule')
      .map((r) => JSON.stringify(r.Properties.EventPattern ?? {}));
    expect(rules.some((p) => p.includes('Sluice.RollbackFailed'))).toBe(true);
    expect(rules.some((p) => p.includes('Rollout Stuck'))).toBe(true);
    const filters = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Logs::MetricFilter')
      .map((r) => r.Properties.FilterPattern);
    expect(filters).toContain('{ $.message = "reconciler finding" }');
  });

  it('outputs the alert topic and the reconciler for `sluice recover --stack`, nag-clean', () => {
    expect(template.Outputs?.[OUTPUTS.alertTopicArn]?.Value).toEqual({ Ref: ref(stack.orchestrator.recovery.topic) });
    expect(template.Outputs?.[OUTPUTS.reconcilerFunctionArn]?.Value).toEqual({
      'Fn::GetAtt': [ref(stack.orchestrator.functions.reconciler), 'Arn'],
    });
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ violations: unknown[] }>;
    };
    expect(report.pluginReports.flatMap((r) => r.violations)).toEqual([]);
  });
});
