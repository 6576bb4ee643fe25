/**
 * The RouteTable router carrying real traffic end to end: the sandbox serves a VirtualService whose
 * route delegates (delegateAction.ref) to RouteTable `demo-routes`, whose route's `multi`
 * destinations carry the weights. The gateway routes every request the way Gloo does — through the
 * delegation into the table — and the real state machine in the local engine drives the table
 * through @kubernetes/client-node against the API stand-in, judged from the real Prometheus. The
 * spec names no VirtualService: preflight finds the delegating one by listing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRollout } from '../local/commands/run.ts';
import { startLocalRuntime } from '../local/runtime.ts';
import { DEMO_SPEC_PATH, SANDBOX_NAMES, startSandbox } from '../local/sandbox/sandbox.ts';
import type { Sandbox } from '../local/sandbox/sandbox.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-route-table-e2e-'));
let sandbox: Sandbox | undefined;
afterAll(async () => {
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a RouteTable delegated from a VirtualService carries a canary rollout (sandbox, real Prometheus)', () => {
  it('routes traffic through the delegation by the weights Sluice writes to the table, and promotes', async () => {
    // Prepare: the demo's spec with a latency limit far above what a loaded 2-core machine adds (this test is about routing).
    const specPath = join(dir, 'spec.yaml');
    const demo = readFileSync(DEMO_SPEC_PATH, 'utf8');
    writeFileSync(
      specPath,
      demo.replace('thresholdRange: { max: 250 }', 'thresholdRange: { max: 5000 }').replace('judge: sequential', 'judge: threshold'),
    );
    expect(readFileSync(specPath, 'utf8')).not.toBe(demo);
    sandbox = await startSandbox({
      router: 'route-table',
      specPath,
      rps: 60,
      interval: '3s',
      seed: 5,
      prometheus: 'required',
      signals: 'ignore',
    });
    const { glooNamespace: ns, routeTable, upstreams } = SANDBOX_NAMES;
    expect(sandbox.spec.spec.router).toMatchObject({ kind: 'RouteTable', name: routeTable, route: { routeTable, name: 'main' } });
    expect(sandbox.spec.spec.router.route?.virtualService).toBeUndefined();
    expect(sandbox.standIn.get('gloo.solo.io/v1', 'UpstreamGroup', ns, SANDBOX_NAMES.upstreamGroup)).toBeUndefined();
    const tableWeights: number[] = [];
    sandbox.standIn.onChange(({ object }) => {
      if (object.kind !== 'RouteTable') return;
      const routes = (
        object.spec as {
          routes: Array<{
            routeAction?: { multi?: { destinations: Array<{ destination: { upstream: { name: string } }; weight: number }> } };
          }>;
        }
      ).routes;
      const canary = routes[0]?.routeAction?.multi?.destinations.find((d) => d.destination.upstream.name === upstreams.canary)?.weight ?? 0;
      if (tableWeights.at(-1) !== canary) tableWeights.push(canary);
    });
    const runtime = await startLocalRuntime({ dir: join(dir, 'state'), advertise: false, ...sandbox.runtimeOptions });

    // Act
    let summary;
    try {
      const rollout = await startRollout(runtime, sandbox.spec, { version: SANDBOX_NAMES.versions.canary, requestedBy: 'route-table e2e' });
      summary = await rollout.done;
    } finally {
      await runtime.close();
    }

    // Assess: promoted, through every planned weight, written to the table and applied by the gateway via the delegation.
    expect({ outcome: summary.outcome, reason: summary.reason, tableWeights }).toMatchObject({ outcome: 'promoted' });
    expect(tableWeights).toEqual([5, 10, 25, 50, 0]);
    const seen: number[] = [];
    for (const change of sandbox.gateway.stats().weightChanges) {
      const weight = change.weights[upstreams.canary] ?? 0;
      if (seen.at(-1) !== weight) seen.push(weight);
    }
    expect(seen).toEqual([0, 5, 10, 25, 50, 0]);
    // Users' requests reached the canary only through the table's weights, and the primary serves v2 afterwards.
    const traffic = sandbox.traffic();
    expect(traffic.requests.canary).toBeGreaterThan(0);
    expect(sandbox.gateway.stats().unrouted).toBe(0);
    expect(sandbox.load.stats().versions.v2).toBeGreaterThan(0);
  }, 240_000);
});
