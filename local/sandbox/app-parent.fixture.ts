/**
 * A parent process for app.test.ts: starts one sandbox app, prints its pid as a JSON line, and
 * waits to be killed — so the test can check the app does not outlive a parent killed with SIGKILL.
 * Usage: node app-parent.fixture.ts <kubeconfig> <namespace> <deployment>
 */
import { startApp } from './app.ts';

const [kubeconfigPath = '', namespace = '', deployment = ''] = process.argv.slice(2);
const app = await startApp({ kubeconfigPath, namespace, deployment });
process.stdout.write(`${JSON.stringify({ pid: app.pid })}\n`);
setInterval(() => undefined, 60_000);
