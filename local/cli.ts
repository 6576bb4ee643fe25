/**
 * The `sluice` command line. Each command returns its exit code (DESIGN §3):
 * 0 success/promoted, 1 unexpected error, 2 invalid input or refused, 3 rolled back,
 * 4 aborted by a person, 5 promotion failed with traffic held on the canary.
 */
import { Command, CommanderError } from 'commander';
import { SpecFileError, validateSpecFile } from './spec-file.ts';

import { EXIT } from './exit-codes.ts';

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
    .command('validate')
    .description('check a rollout spec; prints `valid`, or one `path: message` line per problem')
    .argument('<spec>', 'a spec file (YAML or JSON)')
    .action(async (spec: string) => {
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
    .action(async (spec: string, options: { version?: string; kubeconfig?: string; json?: boolean }) => {
      const { runCommand } = await import('./commands/run.ts');
      const { kubeconfigSource } = await import('./runtime.ts');
      code = await runCommand(
        spec,
        {
          ...(options.version ? { version: options.version } : {}),
          json: options.json ?? false,
          runtime: { kubeConfigOf: kubeconfigSource(options.kubeconfig) },
        },
        io,
      );
    });

  program
    .command('abort')
    .description('abort the running rollout of a target (rollback within seconds during a bake)')
    .argument('<target>', 'the rollout target (metadata.name)')
    .option('--reason <text>', 'why, for the record', 'aborted from the command line')
    .action(async (target: string, options: { reason: string }) => {
      const { abortCommand } = await import('./commands/abort-command.ts');
      code = await abortCommand(target, options.reason, io);
    });

  program
    .command('eks-token')
    .description('print an EKS bearer token as an ExecCredential (kubectl exec plugin), like `aws eks get-token`')
    .requiredOption('--cluster <name>', 'EKS cluster name')
    .option('--region <region>', 'AWS region (default: AWS_REGION / AWS_DEFAULT_REGION)')
    .action(async (options: { cluster: string; region?: string }) => {
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
