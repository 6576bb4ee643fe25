/**
 * `sluice doctor TARGET --stack` over a fleet (examples/fleet.yaml), stubbed at the SDK boundary
 * (aws-sdk-client-mock asserting the exact requests): every cluster is checked with its own spec —
 * its access entries asked of EKS in its region, the deployed functions invoked in doctor mode with
 * that cluster's member spec — and each line names its cluster.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeAccessEntryCommand, DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { GetAccountSettingsCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { doctorCommand } from '../local/commands/doctor.ts';
import { parseSpec } from '../lambdas/core/spec.ts';
import type { RolloutSpec } from '../lambdas/core/spec.ts';

const READ_FN = 'arn:aws:lambda:eu-west-1:123456789012:function:Sluice-PrepareFunction';
const WRITE_FN = 'arn:aws:lambda:eu-west-1:123456789012:function:Sluice-SetWeightFunction';
const WRITER_ROLE = 'arn:aws:iam::123456789012:role/Sluice-KubernetesRole';
const READER_ROLE = 'arn:aws:iam::123456789012:role/Sluice-AnalysisRole';

const cfn = mockClient(CloudFormationClient);
const lambda = mockClient(LambdaClient);
const ssm = mockClient(SSMClient);
const eks = mockClient(EKSClient);
afterAll(() => {
  for (const mock of [cfn, lambda, ssm, eks]) mock.restore();
});

describe('sluice doctor --stack over a fleet', () => {
  it('checks every cluster with its own spec, naming the cluster on each line; one bad cluster refuses the release', async () => {
    // Prepare: the registry holds the fleet spec; prod-us-1's reader entry maps to the wrong group.
    const fleet = parseSpec(parse(readFileSync(join(import.meta.dirname, '..', 'examples', 'fleet.yaml'), 'utf8')) as unknown);
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'Sluice',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'DoctorReadFunctionArn', OutputValue: READ_FN },
            { OutputKey: 'DoctorWriteFunctionArn', OutputValue: WRITE_FN },
            { OutputKey: 'RegistryParameterPrefix', OutputValue: '/sluice/Sluice/targets' },
            { OutputKey: 'KubernetesRoleArn', OutputValue: WRITER_ROLE },
            { OutputKey: 'AnalysisRoleArn', OutputValue: READER_ROLE },
          ],
        },
      ],
    });
    ssm.on(GetParameterCommand, { Name: '/sluice/Sluice/targets/podinfo' }).resolves({ Parameter: { Value: JSON.stringify(fleet) } });
    eks.on(DescribeClusterCommand).resolves({ cluster: { accessConfig: { authenticationMode: 'API' } } });
    eks.on(DescribeAccessEntryCommand).callsFake(async (input: { clusterName: string; principalArn: string }) => ({
      accessEntry: {
        kubernetesGroups: [
          input.principalArn === READER_ROLE && input.clusterName !== 'prod-us-1' ? 'sluice:reader' : 'sluice:orchestrator',
        ],
      },
    }));
    // Each function answers for the spec it was handed: the cluster and router it would reach.
    lambda.on(InvokeCommand).callsFake(async (input: { Payload: Uint8Array }) => {
      const { doctor, spec } = JSON.parse(new TextDecoder().decode(input.Payload)) as { doctor: string; spec: RolloutSpec };
      const cluster = 'name' in spec.spec.cluster ? `${spec.spec.cluster.name} (${spec.spec.cluster.region})` : 'local';
      const checks = [
        { name: doctor, status: 'ok', message: `${spec.metadata.name} on ${cluster}, UpstreamGroup ${spec.spec.router.name}` },
      ];
      return { StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify({ mode: doctor, checks })) as never };
    });
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { UnreservedConcurrentExecutions: 990 } });
    const out: string[] = [];

    // Act
    const code = await doctorCommand(
      { target: 'podinfo', rollouts: join(import.meta.dirname, '..', 'rollouts'), stack: 'Sluice' },
      { stdout: (t) => out.push(t), stderr: (t) => out.push(t) },
      {
        aws: {
          cloudformation: new CloudFormationClient({ region: 'eu-west-1' }),
          lambda: new LambdaClient({ region: 'eu-west-1' }),
          ssm: new SSMClient({ region: 'eu-west-1' }),
          eks: new EKSClient({ region: 'eu-west-1' }),
        },
      },
    );

    // Assess: each cluster's access entries and both functions, with that cluster's spec.
    expect(eks.commandCalls(DescribeClusterCommand).map((c) => c.args[0].input.name)).toEqual(['prod-eu-1', 'prod-eu-2', 'prod-us-1']);
    const payloads = lambda
      .commandCalls(InvokeCommand)
      .map((c) => JSON.parse(new TextDecoder().decode(c.args[0].input.Payload as Uint8Array)) as { doctor: string; spec: RolloutSpec });
    expect(payloads.map((p) => [p.doctor, p.spec.metadata.name, p.spec.spec.cluster, p.spec.spec.fleet])).toEqual([
      ['read', 'podinfo@eu-1', { name: 'prod-eu-1', region: 'eu-west-1' }, undefined],
      ['write', 'podinfo@eu-1', { name: 'prod-eu-1', region: 'eu-west-1' }, undefined],
      ['read', 'podinfo@eu-2', { name: 'prod-eu-2', region: 'eu-west-1' }, undefined],
      ['write', 'podinfo@eu-2', { name: 'prod-eu-2', region: 'eu-west-1' }, undefined],
      ['read', 'podinfo@us-1', { name: 'prod-us-1', region: 'us-east-1' }, undefined],
      ['write', 'podinfo@us-1', { name: 'prod-us-1', region: 'us-east-1' }, undefined],
    ]);
    const text = out.join('');
    expect(text).toContain('ok    us-1: read: podinfo@us-1 on prod-us-1 (us-east-1), UpstreamGroup podinfo-us');
    expect(text).toContain('ok    eu-2: eks access entry: the analysis role (Prepare, Analyze) maps to sluice:reader');
    expect(text).toContain(
      'FAIL  us-1: eks access entry: the analysis role (Prepare, Analyze) maps to sluice:orchestrator, not sluice:reader',
    );
    expect(text.trim().split('\n').at(-1)).toBe('a rollout would be refused (stack Sluice, target podinfo): 1 check(s) failed');
    expect(code).toBe(2);
  });
});
