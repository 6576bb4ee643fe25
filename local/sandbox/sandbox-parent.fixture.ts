/**
 * A process running one sandbox with the default signal handling, for sandbox.test.ts: prints the
 * sandbox's child pids and temp dir as a JSON line once started, then waits for a signal.
 */
import { dirname } from 'node:path';
import { startSandbox } from './sandbox.ts';

const sandbox = await startSandbox({ rps: 20, prometheus: 'required' });
const pids = [sandbox.apps.primary.pid, sandbox.apps.canary.pid];
process.stdout.write(`${JSON.stringify({ pids, dir: dirname(sandbox.kubeconfigPath), gatewayUrl: sandbox.gatewayUrl })}\n`);
setInterval(() => undefined, 60_000);
