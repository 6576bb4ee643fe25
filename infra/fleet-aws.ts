/**
 * What a function that starts or controls fleet releases needs on AWS, beside what it has for
 * single rollouts: the start path (start Lambda, GitOps webhook, Slack bot) starts a target with
 * spec.fleet on the fleet state machine, so it gets `states:StartExecution` on that machine and
 * `states:DescribeExecution` on its executions (to pick the next attempt name Step Functions has
 * not seen), and the machine's ARN as SLUICE_FLEET_STATE_MACHINE_ARN.
 */
import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { nagResource } from './triggers.ts';

/** The environment variable lambdas/wiring/aws-start.ts and aws-slack.ts read. */
export const FLEET_STATE_MACHINE_ENV = 'SLUICE_FLEET_STATE_MACHINE_ARN';

/** Lets `fn` start fleet releases on `machine`. */
export function grantFleetStarts(fn: nodejs.NodejsFunction, machine: sfn.StateMachine): void {
  const stack = Stack.of(fn);
  const role = fn.role;
  if (!role) throw new Error(`${fn.node.path} has no role to grant fleet starts to`);
  fn.addEnvironment(FLEET_STATE_MACHINE_ENV, machine.stateMachineArn);
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [machine.stateMachineArn] }));
  const executions = stack.formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${machine.stateMachineName}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executions] }));
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${nagResource(stack, executions)}]`,
    reason:
      "states:DescribeExecution on the fleet state machine's executions only (their names are chosen per release), to pick the next attempt name.",
  });
}
