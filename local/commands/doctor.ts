/**
 * `sluice doctor [TARGET]`: the preflight alone (lambdas/app/doctor.ts), from where the
 * rollout would run. Locally: against the kubeconfig, the metrics servers and secrets as this
 * machine reaches them. With `--stack S`: inside the deployed functions, in their roles — Prepare
 * (reads) and SetWeight (dry-run patches) invoked in doctor mode, the Slack worker (notification
 * probes) when the stack has one — plus the account's unreserved Lambda concurrency. No lock, no record, no weight. One line per check, a fix for each failure;
 * exit 0 only when a rollout would start, 2 otherwise.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeAccessEntryCommand, DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { GetAccountSettingsCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { parseSpec } from '../../lambdas/core/spec.ts';
import type { RolloutSpec } from '../../lambdas/core/spec.ts';
import { doctorPasses, formatCheck, perCluster, readChecks, writeChecks } from '../../lambdas/app/doctor.ts';
import type { DoctorCheck } from '../../lambdas/app/doctor.ts';
import { clusterDeps, metricDeps } from '../../lambdas/wiring/seams.ts';
import type { DoctorAnswer } from '../../lambdas/app/doctor-mode.ts';
import { notificationChecks } from '../../lambdas/app/doctor-notify.ts';
import type { NotifyProbeOptions } from '../../lambdas/adapters/webhooks/notify-probe.ts';
import type { MetricDeps } from '../../lambdas/app/deps.ts';
import { ControlError, STACK_OUTPUTS, loadSpecFile, localTargetLoader } from '../control.ts';
import { EXIT } from '../exit-codes.ts';
import { kubeconfigSource } from '../runtime.ts';
import type { KubeConfigSource } from '../../lambdas/wiring/seams.ts';

export interface DoctorIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface DoctorOptions {
  target?: string | undefined;
  spec?: string | undefined;
  rollouts: string;
  kubeconfig?: string | undefined;
  stack?: string | undefined;
  region?: string | undefined;
}

/** Seams for tests: the kube config and metric deps locally, the AWS clients for --stack. */
export interface DoctorSeams {
  kubeConfigOf?: KubeConfigSource;
  metrics?: MetricDeps;
  /** SLACK_BOT_TOKEN / SLACK_API_URL, as `sluice run` reads them (default process.env). */
  env?: Record<string, string | undefined>;
  /** How endpoints are probed (tests point Slack webhook detection at a stand-in). */
  probe?: NotifyProbeOptions;
  aws?: { cloudformation?: CloudFormationClient; lambda?: LambdaClient; ssm?: SSMClient; eks?: EKSClient };
}

/** Lambda keeps at least this much of the account's concurrency unreserved (its documented minimum). */
export const UNRESERVED_MINIMUM = 100;
/** What the stack reserves: the GitOps webhook (5), the Slack bot (5) and its worker (1). */
export const STACK_RESERVATIONS = 11;

const TARGET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** With your credentials: the cluster accepts access entries, and each role's entry maps it to the group the RBAC binds. */
async function accessChecks(
  eks: EKSClient,
  clusterName: string,
  roles: Array<[string | undefined, string, string]>,
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  try {
    const described = await eks.send(new DescribeClusterCommand({ name: clusterName }));
    const mode = described.cluster?.accessConfig?.authenticationMode ?? 'CONFIG_MAP';
    const ok = mode === 'API' || mode === 'API_AND_CONFIG_MAP';
    checks.push({
      name: 'eks authentication mode',
      status: ok ? 'ok' : 'failed',
      message: `cluster ${clusterName} uses ${mode}${ok ? ': access entries apply' : ': access entries are ignored'}`,
      ...(ok ? {} : { fix: `aws eks update-cluster-config --name ${clusterName} --access-config authenticationMode=API_AND_CONFIG_MAP` }),
    });
  } catch (error) {
    checks.push({
      name: 'eks authentication mode',
      status: 'failed',
      message: `DescribeCluster ${clusterName} failed: ${(error as Error).message}`,
      fix: 'run with credentials allowed eks:DescribeCluster on the cluster, in its region',
    });
    return checks;
  }
  for (const [principalArn, group, what] of roles) {
    if (!principalArn) continue;
    try {
      const entry = await eks.send(new DescribeAccessEntryCommand({ clusterName, principalArn }));
      const groups = entry.accessEntry?.kubernetesGroups ?? [];
      const ok = groups.includes(group);
      checks.push({
        name: 'eks access entry',
        status: ok ? 'ok' : 'failed',
        message: `${what} maps to ${groups.join(', ') || 'no group'}${ok ? '' : `, not ${group}`}`,
        ...(ok
          ? {}
          : {
              fix: `redeploy the stack with -c clusterName=${clusterName} (the access entry names ${group}), and bind ${group} in infra/k8s/rbac.yaml`,
            }),
      });
    } catch (error) {
      checks.push({
        name: 'eks access entry',
        status: 'failed',
        message: `${what}: no access entry on ${clusterName} (${(error as Error).name})`,
        fix: `deploy the stack with -c clusterName=${clusterName} -c clusterRegion=…: it creates the access entries`,
      });
    }
  }
  return checks;
}

/** The stack's output naming the Slack worker (a contract with infra/sluice-stack.ts OUTPUTS.doctorNotifyFunctionArn). */
const OUTPUT_NOTIFY_FUNCTION = 'DoctorNotifyFunctionArn';

/** Invokes a deployed function in doctor mode; a function error is one failed check naming it. */
async function invokeDoctor(
  lambda: LambdaClient,
  fn: string,
  mode: 'read' | 'write' | 'notify',
  spec: RolloutSpec,
): Promise<DoctorCheck[]> {
  const out = await lambda.send(
    new InvokeCommand({
      FunctionName: fn,
      InvocationType: 'RequestResponse',
      Payload: new TextEncoder().encode(JSON.stringify({ doctor: mode, spec })),
    }),
  );
  const text = out.Payload ? new TextDecoder().decode(out.Payload) : '';
  if (out.FunctionError) {
    return [
      {
        name: `${mode} function`,
        status: 'failed',
        message: `${fn} failed: ${text.slice(0, 300)}`,
        fix: "read the function's log group for the error; redeploy if the function predates doctor mode",
      },
    ];
  }
  return (JSON.parse(text) as DoctorAnswer).checks;
}

/**
 * The notification probes, in the Slack worker (the function, role and network that send them).
 * A stack without the Slack bot has no function that sends notifications at all.
 */
async function notifyChecks(lambda: LambdaClient, fn: string | undefined, spec: RolloutSpec): Promise<DoctorCheck[]> {
  const notifications = spec.spec.notifications;
  if (fn) return notifications?.slack || notifications?.webhooks?.length ? invokeDoctor(lambda, fn, 'notify', spec) : [];
  if (!notifications?.slack && !notifications?.webhooks?.length) return [];
  return [
    {
      name: 'notify',
      status: 'failed',
      message:
        'the target names notifications (spec.notifications), but this stack has no Slack bot: its worker is the function that sends the Slack thread and the notification webhooks, so none would be sent',
      fix: 'deploy with -c slackTeamId=T… -c slackApiAppId=A… (docs/chatops.md), or remove spec.notifications',
    },
  ];
}

async function loadSpec(options: DoctorOptions, fromRegistry?: (target: string) => Promise<RolloutSpec>): Promise<RolloutSpec> {
  if (options.spec) {
    const spec = await loadSpecFile(options.spec);
    if (options.target && spec.metadata.name !== options.target)
      throw new ControlError(`${options.spec} describes target ${spec.metadata.name}, not ${options.target}`);
    return spec;
  }
  if (!options.target) throw new ControlError('name a target (sluice doctor TARGET) or pass --spec FILE');
  if (!TARGET_NAME.test(options.target))
    throw new ControlError(`target "${options.target}" is not a target name (lowercase a-z, 0-9 and -)`);
  return fromRegistry ? fromRegistry(options.target) : localTargetLoader(options.rollouts)(options.target);
}

function print(io: DoctorIo, checks: readonly DoctorCheck[], where: string): number {
  for (const c of checks) io.stdout(`${formatCheck(c)}\n`);
  const passes = doctorPasses(checks);
  io.stdout(
    passes
      ? `a rollout would start (${where})\n`
      : `a rollout would be refused (${where}): ${checks.filter((c) => c.status === 'failed').length} check(s) failed\n`,
  );
  return passes ? EXIT.ok : EXIT.invalid;
}

export async function doctorCommand(options: DoctorOptions, io: DoctorIo, seams: DoctorSeams = {}): Promise<number> {
  try {
    return options.stack ? await doctorStack(options, options.stack, io, seams) : await doctorLocal(options, io, seams);
  } catch (error) {
    if (error instanceof ControlError) {
      io.stderr(`${error.message}\n`);
      return EXIT.invalid;
    }
    throw error;
  }
}

async function doctorLocal(options: DoctorOptions, io: DoctorIo, seams: DoctorSeams): Promise<number> {
  const spec = await loadSpec(options);
  const kubeConfigOf = seams.kubeConfigOf ?? kubeconfigSource(options.kubeconfig);
  const metrics = seams.metrics ?? metricDeps();
  // A fleet: each cluster with its own spec (perCluster names the checks by cluster).
  const checks = await perCluster(spec, async (member) => {
    const own = await readChecks(member, { cluster: clusterDeps(kubeConfigOf), metrics, ...(seams.probe ? { probe: seams.probe } : {}) });
    // Locally one identity does both: the dry-run patches tell whether it may write.
    const reachable = !own.some((c) => c.name === 'kubernetes' && c.status === 'failed');
    if (reachable) own.push(...(await writeChecks(member, await kubeConfigOf(member))));
    return own;
  });
  // Notifications as `sluice run` sends them (local/notifications.ts): the thread only with SLACK_BOT_TOKEN.
  const env = seams.env ?? process.env;
  checks.push(
    ...(await notificationChecks(spec, {
      ...seams.probe,
      slackToken: env['SLACK_BOT_TOKEN'],
      slackApiUrl: env['SLACK_API_URL'],
      slackSkipped:
        'Slack notifications are skipped locally without SLACK_BOT_TOKEN (as `sluice run` skips them): the thread is not checked',
    })),
  );
  return print(io, checks, `locally, target ${spec.metadata.name}`);
}

async function doctorStack(options: DoctorOptions, stack: string, io: DoctorIo, seams: DoctorSeams): Promise<number> {
  const region = options.region ? { region: options.region } : {};
  const cloudformation = seams.aws?.cloudformation ?? new CloudFormationClient(region);
  const lambda = seams.aws?.lambda ?? new LambdaClient(region);
  const ssm = seams.aws?.ssm ?? new SSMClient(region);
  try {
    const described = await cloudformation.send(new DescribeStacksCommand({ StackName: stack }));
    const outputs = new Map((described.Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
    const readFn = outputs.get('DoctorReadFunctionArn');
    const writeFn = outputs.get('DoctorWriteFunctionArn');
    const prefix = outputs.get(STACK_OUTPUTS.registryParameterPrefix);
    if (!readFn || !writeFn)
      throw new ControlError(
        `stack ${stack} has no DoctorReadFunctionArn / DoctorWriteFunctionArn outputs: deploy this version of Sluice first`,
      );
    const spec = await loadSpec(options, async (target) => {
      if (!prefix) throw new ControlError(`stack ${stack} has no ${STACK_OUTPUTS.registryParameterPrefix} output`);
      const answer = await ssm.send(new GetParameterCommand({ Name: `${prefix}/${target}` })).catch((error: unknown) => {
        if ((error as Error).name === 'ParameterNotFound')
          throw new ControlError(`target ${target} is not in the deployed registry (${prefix}/${target})`);
        throw error;
      });
      return parseSpec(JSON.parse(answer.Parameter?.Value ?? 'null') as unknown, `${prefix}/${target}`);
    });
    // A fleet: every cluster, each in its own region with its own spec (the functions resolve nothing themselves).
    const checks = await perCluster(spec, async (member) => {
      const own: DoctorCheck[] = [];
      const cluster = member.spec.cluster;
      if ('name' in cluster) {
        const eks = seams.aws?.eks ?? new EKSClient({ region: cluster.region });
        try {
          own.push(
            ...(await accessChecks(eks, cluster.name, [
              [outputs.get('KubernetesRoleArn'), 'sluice:orchestrator', "the writers' role (SetWeight, Promote, Rollback, safety net)"],
              [outputs.get('AnalysisRoleArn'), 'sluice:reader', 'the analysis role (Prepare, Analyze)'],
            ])),
          );
        } finally {
          if (!seams.aws?.eks) eks.destroy();
        }
      }
      own.push(...(await invokeDoctor(lambda, readFn, 'read', member)), ...(await invokeDoctor(lambda, writeFn, 'write', member)));
      return own;
    });
    checks.push(...(await notifyChecks(lambda, outputs.get(OUTPUT_NOTIFY_FUNCTION), spec)));
    const settings = await lambda.send(new GetAccountSettingsCommand({}));
    const unreserved = settings.AccountLimit?.UnreservedConcurrentExecutions;
    if (unreserved !== undefined) {
      const ok = unreserved >= UNRESERVED_MINIMUM;
      checks.push({
        name: 'lambda concurrency',
        status: ok ? 'ok' : 'failed',
        message: `${unreserved} unreserved concurrent executions in the account (Lambda keeps at least ${UNRESERVED_MINIMUM}; the stack reserves up to ${STACK_RESERVATIONS})`,
        ...(ok ? {} : { fix: 'raise the account\'s "Concurrent executions" quota in Service Quotas' }),
      });
    }
    return print(io, checks, `stack ${stack}, target ${spec.metadata.name}`);
  } finally {
    if (!seams.aws?.cloudformation) cloudformation.destroy();
    if (!seams.aws?.lambda) lambda.destroy();
    if (!seams.aws?.ssm) ssm.destroy();
  }
}
