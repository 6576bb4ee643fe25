/**
 * The `sluice` command line. Each command returns its exit code:
 * 0 success/promoted, 1 unexpected error, 2 invalid input or refused, 3 rolled back,
 * 4 aborted by a person, 5 promotion failed with traffic held on the canary.
 */
import { Argument, Command, CommanderError, Option } from '@commander-js/extra-typings';
import { sequentialWarnings } from '../lambdas/core/sequential/metrics.ts';
import { SpecFileError, validateSpecFile } from './spec-file.ts';
import type { ControlPlane } from './control.ts';

import { EXIT } from './exit-codes.ts';
import { SCENARIOS } from './commands/demo-scenarios.ts';
import { specWarnings } from '../lambdas/core/spec-checks.ts';

export { EXIT };

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export async function validateCommand(path: string, io: Io): Promise<number> {
  try {
    const result = await validateSpecFile(path);
    if (result.ok) {
      // Warnings go to stderr: stdout stays `valid` for scripts.
      for (const warning of specWarnings(result.spec)) io.stderr(`warning: ${warning.path}: ${warning.message}\n`);
      for (const warning of sequentialWarnings(result.spec)) io.stderr(`warning: ${warning.path}: ${warning.message}\n`);
      io.stdout('valid\n');
      return EXIT.ok;
    }
    for (const problem of result.problems) io.stdout(`${problem.path}: ${problem.message}\n`);
    return EXIT.invalid;
  } catch (error) {
    if (error instanceof SpecFileError) {
      io.stderr(`${error.message}\n`);
      return EXIT.invalid;
    }
    throw error;
  }
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('sluice')
    .description('Canary rollouts for services behind Gloo Edge: Step Functions + Lambda, judged from metrics.')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError();

  program
    .command('demo')
    .description('a whole canary release on this machine: sandbox, real Prometheus, the real state machine; live progress and a report')
    // Fixed sets through commander's choices: a bad value is a usage error naming the option and
    // the allowed values ("error: option '--judge <judge>' argument 'x' is invalid. Allowed choices are …").
    .addOption(new Option('--scenario <name>', 'the demo to run').choices(SCENARIOS).default('healthy' as const))
    .option('--canary-error-rate <r>', 'fraction (0..1) of canary requests that fail (errors scenario: 0.1)')
    .option('--canary-latency-ms <ms>', 'latency added to the canary (latency scenario: 300)')
    .option('--rps <n>', 'requests per second through the gateway', '100')
    .option('--interval <s>', 'seconds per step')
    .addOption(
      new Option('--judge <judge>', 'the canary judge (default: sequential; the affinity scenario: threshold)').choices([
        'threshold',
        'sequential',
      ] as const),
    )
    .option('--compare', 'run both judges on the same seeded traffic, one after the other, and print them side by side')
    .option('--seed <k>', 'seed for routing and app behaviour (repeat a run)')
    .option('--scrape-interval <s>', "the sandbox Prometheus' scrape interval; lookInterval becomes S and interval 2S")
    .option('--restart-gateway-at <s>', 'replace the gateway (new instance, fresh counters) this many seconds after the rollout starts')
    .option('--step-weight-promotion <n>', 'promote progressively: traffic steps back to the primary n at a time, a look at each step')
    .option('--json', 'print the summary as one JSON object on the last line of stdout')
    .option('--fleet', 'release v2 across three sandbox clusters in waves [a], [b], [c] (errors scenario: the fault in b)')
    .action(async (flags, command: Command) => {
      const { demoCommand } = await import('./commands/demo.ts');
      const problems: string[] = [];
      const number = (name: string, text: string | undefined, check: (n: number) => boolean, expected: string) => {
        if (text === undefined) return undefined;
        const value = Number(text);
        if (!Number.isFinite(value) || !check(value)) problems.push(`--${name}: expected ${expected}, got "${text}"`);
        return value;
      };
      const canaryErrorRate = number('canary-error-rate', flags.canaryErrorRate, (n) => n >= 0 && n <= 1, 'a fraction from 0 to 1');
      const canaryLatencyMs = number(
        'canary-latency-ms',
        flags.canaryLatencyMs,
        (n) => n >= 0 && n <= 10_000,
        'milliseconds from 0 to 10000',
      );
      const rps = number('rps', flags.rps, (n) => n >= 1 && n <= 500, 'requests per second from 1 to 500 (2 cores)');
      const interval = number('interval', flags.interval, (n) => Number.isInteger(n) && n >= 1 && n <= 300, 'whole seconds from 1 to 300');
      const seed = number('seed', flags.seed, (n) => Number.isInteger(n) && n >= 0, 'a whole number');
      const scrapeInterval = number(
        'scrape-interval',
        flags.scrapeInterval,
        (n) => Number.isInteger(n) && n >= 1 && n <= 120,
        'whole seconds from 1 to 120',
      );
      const restartGatewayAt = number('restart-gateway-at', flags.restartGatewayAt, (n) => n >= 0 && n <= 3600, 'seconds from 0 to 3600');
      const stepWeightPromotion = number(
        'step-weight-promotion',
        flags.stepWeightPromotion,
        (n) => Number.isInteger(n) && n >= 1 && n <= 100,
        'a whole weight from 1 to 100',
      );
      if (problems.length) {
        for (const problem of problems) io.stderr(`${problem}\n`);
        code = EXIT.invalid;
        return;
      }
      if (flags.fleet) {
        const { runFleetDemo } = await import('./commands/demo-fleet.ts');
        const fleetOptions = {
          scenario: flags.scenario,
          judge: flags.judge,
          json: flags.json ?? false,
          ...(canaryErrorRate !== undefined ? { canaryErrorRate } : {}),
          ...(canaryLatencyMs !== undefined ? { canaryLatencyMs } : {}),
          // --rps given is the whole load, shared by the three clusters (default 50 each: 150 in all).
          ...(command.getOptionValueSource('rps') === 'cli' && rps !== undefined ? { rpsPerCluster: rps / 3 } : {}),
          ...(interval !== undefined ? { interval } : {}),
          ...(seed !== undefined ? { seed } : {}),
        };
        code = (await runFleetDemo(fleetOptions, io)).code;
        return;
      }
      code = await demoCommand(
        {
          scenario: flags.scenario,
          ...(flags.judge ? { judge: flags.judge } : {}),
          json: flags.json ?? false,
          compare: flags.compare ?? false,
          ...(canaryErrorRate !== undefined ? { canaryErrorRate } : {}),
          ...(canaryLatencyMs !== undefined ? { canaryLatencyMs } : {}),
          ...(rps !== undefined ? { rps } : {}),
          ...(interval !== undefined ? { interval } : {}),
          ...(seed !== undefined ? { seed } : {}),
          ...(scrapeInterval !== undefined ? { scrapeInterval } : {}),
          ...(restartGatewayAt !== undefined ? { restartGatewayAt } : {}),
          ...(stepWeightPromotion !== undefined ? { stepWeightPromotion } : {}),
        },
        io,
      );
    });

  program
    .command('validate')
    .description('check a rollout spec; prints `valid`, or one `path: message` line per problem')
    .argument('<spec>', 'a spec file (YAML or JSON)')
    .action(async (spec) => {
      code = await validateCommand(spec, io);
    });

  program
    .command('run')
    .description('run one rollout of the real state machine in the local engine, printing each step live')
    .argument('<spec>', 'a spec file (YAML or JSON)')
    .requiredOption('--local', 'use the local engine (the AWS path is `sluice start`)')
    .option('--version <version>', 'the version being rolled out (default: a timestamp)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG or ~/.kube/config; EKS clusters use an STS token)')
    .option('--json', 'print the summary as one JSON object on the last line of stdout')
    .option(
      '--override <reason>',
      'start now even outside the change windows: records an audited window override first (as `sluice override`)',
    )
    .action(async (spec, options) => {
      const { runCommand } = await import('./commands/run.ts');
      const { kubeconfigSource } = await import('./runtime.ts');
      code = await runCommand(
        spec,
        {
          ...(options.version ? { version: options.version } : {}),
          json: options.json ?? false,
          ...(options.override !== undefined ? { override: options.override } : {}),
          runtime: { kubeConfigOf: kubeconfigSource(options.kubeconfig) },
        },
        io,
      );
    });

  const control = (command: Command) =>
    command
      .option('--local', 'the local engine (SLUICE_ENDPOINT or .sluice/engine.json; see `sluice serve`)')
      .option('--stack <name>', 'a deployed Sluice stack: its outputs name the state machine and the table')
      .option('--state-machine-arn <arn>', 'the state machine (instead of --stack)')
      .option('--table <name>', 'the DynamoDB store (instead of --stack)')
      .option('--region <region>', 'AWS region')
      .option('--rollouts <dir>', 'folder of target specs (<target>.yaml)', 'rollouts');
  type ControlFlags = { local?: boolean; stack?: string; stateMachineArn?: string; table?: string; region?: string; rollouts: string };
  const withControl = async (flags: ControlFlags, act: (plane: ControlPlane) => Promise<number>) => {
    const { connect, ControlError } = await import('./control.ts');
    let plane: ControlPlane | undefined;
    try {
      plane = await connect(flags, flags.rollouts);
      return await act(plane);
    } catch (error) {
      if (error instanceof ControlError) {
        io.stderr(`${error.message}\n`);
        return EXIT.invalid;
      }
      throw error;
    } finally {
      await plane?.close();
    }
  };

  control(program.command('start'))
    .description('start a rollout of a target (the spec from the deployed registry, or rollouts/<target>.yaml)')
    .argument('<target>', 'the rollout target (metadata.name)')
    .requiredOption('--version <version>', 'the version being rolled out')
    .option('--spec <file>', "the spec to run instead of the registry's")
    .option('--at <time>', 'schedule it instead: an ISO time with offset, or a local time with --tz')
    .option('--tz <zone>', 'IANA time zone of --at (e.g. Europe/Berlin)')
    .option(
      '--override <reason>',
      'start now even outside the change windows: records an audited window override first (as `sluice override`)',
    )
    .action(async (target, flags) => {
      const { scheduleStartCommand, startCommand } = await import('./commands/control-commands.ts');
      const { at, override } = flags;
      code = at
        ? await withControl(flags, (plane) =>
            scheduleStartCommand(
              plane,
              target,
              { version: flags.version, at, ...(flags.tz ? { timeZone: flags.tz } : {}), ...(flags.spec ? { spec: flags.spec } : {}) },
              io,
            ),
          )
        : await withControl(flags, async (plane) => {
            if (override !== undefined) {
              const { overrideCommand } = await import('./commands/override.ts');
              const overridden = await overrideCommand(plane, target, { reason: override }, io);
              if (overridden !== 0) return overridden;
            }
            return startCommand(plane, target, { version: flags.version, ...(flags.spec ? { spec: flags.spec } : {}) }, io);
          });
    });

  control(program.command('status'))
    .description("where a target's latest rollout is: state, weights, last verdict")
    .argument('<target>', 'the rollout target')
    .option('--json', 'one JSON object')
    .action(async (target, flags) => {
      const { statusCommand } = await import('./commands/control-commands.ts');
      code = await withControl(flags, (plane) => statusCommand(plane, target, { json: flags.json ?? false }, io));
    });

  control(program.command('history'))
    .description("a target's rollouts, newest first")
    .argument('<target>', 'the rollout target')
    .option('--json', 'one JSON array')
    .action(async (target, flags) => {
      const { historyCommand } = await import('./commands/control-commands.ts');
      code = await withControl(flags, (plane) => historyCommand(plane, target, { json: flags.json ?? false }, io));
    });

  control(program.command('abort'))
    .description(
      'abort the running rollout of a target: rollback within seconds during a bake, else at its next step; a fleet target: the whole release halts',
    )
    .argument('<target>', 'the rollout target')
    .option('--reason <text>', 'why, for the record', 'aborted from the command line')
    .action(async (target, flags) => {
      const { abortCommand } = await import('./commands/control-commands.ts');
      code = await withControl({ ...flags, local: flags.local ?? (!flags.stack && !flags.stateMachineArn) }, (plane) =>
        abortCommand(plane, target, flags.reason, io),
      );
    });

  control(program.command('alarm'))
    .description('deliver a CloudWatch alarm event (state ALARM) for a target, as EventBridge would: a hard stop')
    .argument('<target>', 'the rollout target')
    .argument('<alarm-name>', 'the alarm that fired')
    .option('--reason <text>', 'the alarm state reason', '')
    .action(async (target, alarmName, flags) => {
      const { alarmCommand } = await import('./commands/alarm.ts');
      code = await withControl({ ...flags, local: flags.local ?? (!flags.stack && !flags.stateMachineArn) }, (plane) =>
        alarmCommand(plane, target, alarmName, flags.reason, io),
      );
    });

  control(program.command('promote'))
    .description(
      'promote now: skip the remaining analysis steps (a promotion approval and change windows still apply); for a fleet, run every remaining wave at once with no more pauses',
    )
    .argument('<target>', 'the rollout target')
    .action(async (target, flags) => {
      const { promoteCommand } = await import('./commands/control-commands.ts');
      code = await withControl(flags, (plane) => promoteCommand(plane, target, io));
    });

  for (const verb of ['pause', 'resume'] as const)
    control(program.command(verb))
      .description(
        verb === 'pause'
          ? 'pause a running fleet release between waves: the running wave finishes, the next waits (promoted clusters stay watched)'
          : 'resume a paused fleet release: the next wave starts once the spec’s own pause has passed',
      )
      .argument('<target>', 'the fleet target (metadata.name)')
      .action(async (target, flags) => {
        const { pauseResumeCommand } = await import('./commands/fleet.ts');
        code = await withControl(flags, (plane) => pauseResumeCommand(plane, target, verb, io));
      });

  control(program.command('approve'))
    .description('approve the pending approval gate of a target (before start or before promotion)')
    .argument('<target>', 'the rollout target')
    .action(async (target, flags) => {
      const { approveCommand } = await import('./commands/control-commands.ts');
      code = await withControl(flags, (plane) => approveCommand(plane, target, io));
    });

  control(program.command('override'))
    .description('let a target move outside its change windows, with a reason (audited): a held rollout advances, a start is not queued')
    .argument('<target>', 'the rollout target')
    .option('--reason <text>', 'why (required; recorded in the audit trail)')
    .option('--for <duration>', 'how long it lasts (e.g. 30m, 2h); default: until the windows open again')
    .action(async (target, flags) => {
      const { overrideCommand } = await import('./commands/override.ts');
      code = await withControl(flags, (plane) =>
        overrideCommand(
          plane,
          target,
          { ...(flags.reason !== undefined ? { reason: flags.reason } : {}), ...(flags.for !== undefined ? { for: flags.for } : {}) },
          io,
        ),
      );
    });

  control(program.command('retry'))
    .description("start a new attempt of the target's latest version (after a rollback or an abort)")
    .argument('<target>', 'the rollout target')
    .option('--spec <file>', "the spec to run instead of the registry's")
    .action(async (target, flags) => {
      const { retryCommand } = await import('./commands/control-commands.ts');
      code = await withControl(flags, (plane) => retryCommand(plane, target, { ...(flags.spec ? { spec: flags.spec } : {}) }, io));
    });

  const schedule = program.command('schedule').description('one-off scheduled rollouts (create them with `sluice start --at`)');
  control(schedule.command('list'))
    .description('pending scheduled rollouts, soonest first')
    .argument('[target]', 'only this target')
    .option('--json', 'one JSON array')
    .action(async (target, flags) => {
      const { scheduleListCommand } = await import('./commands/control-commands.ts');
      code = await withControl(flags, (plane) => scheduleListCommand(plane, target, { json: flags.json ?? false }, io));
    });
  control(schedule.command('cancel'))
    .description('cancel a pending scheduled rollout')
    .argument('<name>', 'the schedule name `sluice schedule list` shows')
    .action(async (name, flags) => {
      const { scheduleCancelCommand } = await import('./commands/control-commands.ts');
      code = await withControl(flags, (plane) => scheduleCancelCommand(plane, name, io));
    });

  program
    .command('doctor')
    .description(
      'the preflight alone, moving nothing: one line per check with a fix for each failure; exit 0 only when a rollout would start',
    )
    .argument('[target]', 'the rollout target (metadata.name)')
    .option('--spec <file>', "the spec to check instead of rollouts/<target>.yaml or the deployed registry's")
    .option('--rollouts <dir>', 'folder of target specs (<target>.yaml)', 'rollouts')
    .option('--kubeconfig <file>', 'kubeconfig file (locally; default KUBECONFIG or ~/.kube/config)')
    .option('--stack <name>', "check inside a deployed stack's functions, in their roles")
    .option('--region <region>', 'AWS region (with --stack)')
    .action(async (target, flags) => {
      const { doctorCommand } = await import('./commands/doctor.ts');
      code = await doctorCommand({ target, ...flags }, io);
    });

  control(program.command('event'))
    .description('deliver an EventBridge event (Rollout Requested, ECR push) through the start handler')
    .argument('<file>', 'the event as JSON')
    .option('--json', 'the answers as JSON')
    .action(async (file, flags) => {
      const { eventCommand } = await import('./commands/event.ts');
      code = await withControl(flags, (plane) =>
        eventCommand(
          plane,
          file,
          { rollouts: flags.rollouts, json: flags.json ?? false, ...(plane.scheduler ? { scheduler: plane.scheduler } : {}) },
          io,
        ),
      );
    });

  program
    .command('recover')
    .description(
      'put orphaned rollouts (open, execution not running) on their safe side, close them and free their locks; prints what it found and did',
    )
    .argument('[target]', 'only this target (default: every open rollout)')
    .option('--local', 'the local store (no engine needs to run)')
    .option('--stack <name>', 'a deployed Sluice stack: invokes its reconciler Lambda')
    .option('--region <region>', 'AWS region')
    .option('--kubeconfig <file>', 'kubeconfig file (--local; default: KUBECONFIG or ~/.kube/config)')
    .option('--rollouts <dir>', 'folder of target specs, when a record carries none', 'rollouts')
    .option('--spec <file>', 'the spec to restore with, when neither the record nor the registry has it')
    .option('--json', 'the report as one JSON object')
    .action(async (target, flags) => {
      const { recoverCommand } = await import('./commands/recover.ts');
      const { ControlError } = await import('./control.ts');
      try {
        code = await recoverCommand(target, flags, io);
      } catch (error) {
        if (!(error instanceof ControlError)) throw error;
        io.stderr(`${error.message}\n`);
        code = EXIT.invalid;
      }
    });

  program
    .command('serve')
    .description('run the local engine and its Step Functions endpoint until Ctrl-C (for start/status/abort --local)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG or ~/.kube/config)')
    .option('--rollouts <dir>', 'folder of target specs for scheduled starts', 'rollouts')
    .action(async (flags) => {
      const { serveCommand } = await import('./commands/serve.ts');
      code = await serveCommand(flags, io);
    });

  program
    .command('report')
    .description('the rollout as a picture: one self-contained HTML file (weights, success rate, p99, verdicts)')
    .argument('<execution|summary.json>', 'an execution (or target) in the local store, or a summary printed by --json')
    .option('--out <file>', 'where to write the HTML (default .sluice/reports/<execution>.html)')
    .action(async (arg, options) => {
      const { reportCommand } = await import('./commands/report.ts');
      code = await reportCommand(arg, options, io);
    });

  const collect = (value: string, previous: string[] = []) => [...previous, value];
  program
    .command('replay')
    .description('re-decide a recorded rollout look by look under other settings (or a past window read from Prometheus); draws the replay')
    .argument(
      '[execution|summary.json]',
      'an execution (or target) in the local store, or a summary printed by --json; none with --from/--to',
    )
    .addOption(
      new Option('--judge <judge>', 'the judge to replay with (default: the recorded one)').choices(['threshold', 'sequential'] as const),
    )
    .option('--alpha <p>', "the sequential judge's alpha (chance of failing a canary no worse than the primary)")
    .option('--alpha-promote <p>', "the sequential judge's alphaPromote (ending a step early)")
    .option('--margin <ratio>', "the sequential judge's margin (canary/primary rate ratio counted as worse)")
    .option('--look-interval <duration>', 'look interval of the sequential judge (a multiple of the recorded one)')
    .option('--interval <duration>', 'step interval (the threshold judge looks once per interval)')
    .option('--threshold <n>', 'failed checks before rollback (the threshold judge)')
    .option('--min <metric=value>', "a metric's thresholdRange.min (repeatable)", collect)
    .option('--max <metric=value>', "a metric's thresholdRange.max (repeatable)", collect)
    .addOption(
      new Option('--on-no-data <mode>', 'spec.analysis.noData: what a look without data does').choices(['fail', 'pass', 'hold'] as const),
    )
    .option('--spec <file>', 'the spec to replay (a window; or a recording that keeps none)')
    .option('--from <time>', "window start (ISO time): read both arms' counters from Prometheus, look by look")
    .option('--to <time>', 'window end (ISO time)')
    .option('--prometheus <url>', "Prometheus for a window (default: the spec's spec.analysis.prometheus)")
    .option('--amp <workspace-url>', 'Amazon Managed Prometheus for a window (SigV4, credentials from the AWS SDK chain)')
    .option('--out <file>', 'where to write the HTML (default .sluice/reports/<execution>-replay.html)')
    .option('--json', "one JSON object: the replay's decisions and the original's")
    .action(async (arg, flags) => {
      const { replayCommand } = await import('./commands/replay.ts');
      const { onNoData, ...rest } = flags;
      code = await replayCommand(arg, { ...rest, ...(onNoData ? { noData: onNoData } : {}) }, io);
    });

  program
    .command('import')
    .description('turn a Flagger Canary (provider gloo) into a Sluice spec; the report of what mapped goes to stderr')
    .addArgument(new Argument('<kind>', 'what the file comes from').choices(['flagger'] as const))
    .argument('<file>', 'the Canary YAML (MetricTemplates may share the file)')
    .option('--out <file>', 'write the spec here instead of stdout')
    .option('--json', 'one JSON object with the spec and the report')
    .option('--cluster <name>', 'EKS cluster name for spec.cluster')
    .option('--region <region>', 'its region')
    .option('--kube-context <ctx>', 'a kubeconfig context for spec.cluster instead')
    .option('--prometheus <url>', 'Prometheus address for the metrics')
    .option('--mesh-provider <name>', "Flagger's -mesh-provider when the Canary names no provider")
    .option('--namespace <ns>', 'namespace when the Canary has none')
    .option('--upstream-group', 'Flagger before 1.6 (UpstreamGroup instead of RouteTable)')
    .action(async (kind, file, options) => {
      const { importCommand } = await import('./commands/import.ts');
      code = await importCommand(kind, file, options, io);
    });

  program
    .command('eks-token')
    .description('print an EKS bearer token as an ExecCredential (kubectl exec plugin), like `aws eks get-token`')
    .requiredOption('--cluster <name>', 'EKS cluster name')
    .option('--region <region>', 'AWS region (default: AWS_REGION / AWS_DEFAULT_REGION)')
    .action(async (options) => {
      const { eksTokenCommand } = await import('./commands/eks-token.ts');
      code = await eksTokenCommand(options, io);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; usage errors are exit 2 like any invalid input.
      return error.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    }
    io.stderr(`sluice: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.error;
  }
  return code;
}
