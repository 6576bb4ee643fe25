/**
 * Reconciler cost: what the reconciler and its alarms cost per month, computed
 * from the synthesized template (the schedule's rate, the function's memory and architecture, the
 * alarms and metric filters) and public list prices. Nothing here is measured on AWS: the billed
 * duration of one pass is an assumption stated in the output (a pass is one DynamoDB Query, a
 * GetItem or two and one DescribeExecution per open rollout; a few hundred ms warm).
 *
 *   node bench/reconciler-cost.ts [--pass-ms 400] [--open-rollouts 1]
 *
 * The schedule's rule is created disabled: Prepare enables it when a rollout opens, the reconciler
 * disables it when none is open, so the cost scales with the hours during which a rollout is open.
 * Prints a table and writes bench/results/reconciler-cost.json.
 *
 * Prices: us-east-1 list prices as published on aws.amazon.com/<service>/pricing (Lambda arm64
 * $0.0000133334 per GB-second and $0.20 per million requests; EventBridge rules matching
 * schedule expressions are not charged; DynamoDB on-demand $0.125 per million read request units;
 * CloudWatch standard alarms $0.10 per alarm-month, custom metrics $0.30 per metric-month;
 * Step Functions DescribeExecution is an API call, not a state transition, and is not charged).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { CfnElement } from 'aws-cdk-lib';
import { buildApp } from '../infra/app.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const PRICES = {
  lambdaArmGbSecond: 0.0000133334,
  lambdaX86GbSecond: 0.0000166667,
  lambdaPerRequest: 0.2 / 1_000_000,
  dynamoReadRequestUnit: 0.125 / 1_000_000,
  cloudwatchAlarmMonth: 0.1,
  cloudwatchCustomMetricMonth: 0.3,
  scheduledRuleInvocation: 0,
} as const;

const { values } = parseArgs({
  options: { 'pass-ms': { type: 'string', default: '400' }, 'open-rollouts': { type: 'string', default: '1' } },
});
const passMs = Number(values['pass-ms']);
const openRollouts = Number(values['open-rollouts']);
if (!Number.isFinite(passMs) || passMs <= 0)
  throw new Error(`--pass-ms: expected a positive number of milliseconds, got "${values['pass-ms']}"`);
if (!Number.isInteger(openRollouts) || openRollouts < 0)
  throw new Error(`--open-rollouts: expected a whole number, got "${values['open-rollouts']}"`);

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
}

const outdir = mkdtempSync(join(tmpdir(), 'sluice-cost-'));
let template: { Resources: Record<string, Resource> };
let ruleId: string;
let functionId: string;
try {
  const built = buildApp({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  template = built.app.synth().getStackByName(built.stack.stackName).template as typeof template;
  ruleId = built.stack.getLogicalId(built.stack.orchestrator.recovery.schedule.node.defaultChild as CfnElement);
  functionId = built.stack.getLogicalId(built.stack.orchestrator.functions.reconciler.node.defaultChild as CfnElement);
} finally {
  rmSync(outdir, { recursive: true, force: true });
}

const rule = template.Resources[ruleId];
const fn = template.Resources[functionId];
if (!rule || !fn) throw new Error('the synthesized template has no reconciler schedule or function');
const rate = /^rate\((\d+) (minute|minutes|hour|hours)\)$/.exec(String(rule.Properties.ScheduleExpression));
if (!rate) throw new Error(`unexpected ScheduleExpression ${String(rule.Properties.ScheduleExpression)}`);
const periodMinutes = Number(rate[1]) * (rate[2]?.startsWith('hour') ? 60 : 1);
const memoryMb = Number(fn.Properties.MemorySize ?? 128);
const arm = JSON.stringify(fn.Properties.Architectures ?? []).includes('arm64');
const alarms = Object.entries(template.Resources).filter(
  ([id, r]) => r.Type === 'AWS::CloudWatch::Alarm' && id.includes('Recovery'),
).length;
const customMetrics = Object.entries(template.Resources).filter(
  ([id, r]) => r.Type === 'AWS::Logs::MetricFilter' && id.includes('Recovery'),
).length;

/** Read request units per pass: the OPEN query (1), and per open rollout the pointer and the record (2) and the lock (1). */
const readUnitsPerPass = 1 + openRollouts * 3;
const gbSeconds = (memoryMb / 1024) * (passMs / 1000);
const gbSecondPrice = arm ? PRICES.lambdaArmGbSecond : PRICES.lambdaX86GbSecond;
const fixedMonthly = alarms * PRICES.cloudwatchAlarmMonth + customMetrics * PRICES.cloudwatchCustomMetricMonth;

const scenarios = [
  { name: 'no rollout open all month', rollouts: 0, openHours: 0 },
  { name: '20 rollouts × 1 h', rollouts: 20, openHours: 20 },
  { name: '100 rollouts × 2 h', rollouts: 100, openHours: 200 },
  { name: 'a rollout open all month (730 h)', rollouts: 1, openHours: 730 },
].map((scenario) => {
  // One pass per period while open, plus per rollout the pass that finds nothing open and disables the rule.
  const passes = Math.ceil((scenario.openHours * 60) / periodMinutes) + scenario.rollouts;
  const lambda = passes * (PRICES.lambdaPerRequest + gbSeconds * gbSecondPrice);
  const dynamo = passes * readUnitsPerPass * PRICES.dynamoReadRequestUnit;
  const variable = lambda + dynamo + passes * PRICES.scheduledRuleInvocation;
  return { ...scenario, passes, lambdaUsd: lambda, dynamoUsd: dynamo, variableUsd: variable, totalUsd: variable + fixedMonthly };
});

const usd = (n: number) => `$${n.toFixed(n < 0.01 ? 5 : 2)}`;
console.log(
  `reconciler: every ${periodMinutes} min while a rollout is open; ${memoryMb} MB ${arm ? 'arm64' : 'x86_64'}; assumed ${passMs} ms per pass, ${openRollouts} open rollout(s) per pass`,
);
console.log(
  `fixed: ${alarms} alarms + ${customMetrics} custom metric = ${usd(fixedMonthly)}/month (free-tier alarms and requests ignored)\n`,
);
console.log(
  `${'scenario'.padEnd(36)} ${'passes'.padStart(7)} ${'lambda'.padStart(10)} ${'dynamodb'.padStart(10)} ${'total/month'.padStart(12)}`,
);
for (const s of scenarios)
  console.log(
    `${s.name.padEnd(36)} ${String(s.passes).padStart(7)} ${usd(s.lambdaUsd).padStart(10)} ${usd(s.dynamoUsd).padStart(10)} ${usd(s.totalUsd).padStart(12)}`,
  );

const out = join(ROOT, 'bench', 'results', 'reconciler-cost.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ generatedAt: new Date().toISOString(), fromTemplate: { periodMinutes, memoryMb, architecture: arm ? 'arm64' : 'x86_64', alarms, customMetrics }, assumptions: { passMs, openRollouts, readUnitsPerPass }, prices: PRICES, fixedMonthlyUsd: fixedMonthly, scenarios }, null, 2)}\n`,
);
console.log(`\nwrote ${out}`);
