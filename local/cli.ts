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
