/**
 * The Gloo half of the preflight: before the first weight change, the objects fit
 * the spec and a route sends traffic through them, the canary is ready, and the weights are the
 * expected start state. Every check is a line a person can read (the CLI prints them); a failed
 * one refuses the rollout with all the reasons. It only reads: Prepare runs it in the read-only
 * Kubernetes group, and so does `sluice doctor`.
 */
import { RefusedError } from '../../core/errors.ts';
import type { Side, Weights } from '../../core/records.ts';
import type { TrafficRouter, Workload } from '../../core/ports.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { describeWeights } from './gloo-weights.ts';

export interface PreflightCheck {
  name: 'router' | 'canary-ready' | 'canary-hpa' | 'start-weights';
  /** note: worth knowing, not a reason to refuse. */
  status: 'ok' | 'note' | 'failed';
  message: string;
}

/** A preflight refusal (Sluice.Refused, exit 2) that carries every check's result. */
export class PreflightRefusedError extends RefusedError {
  readonly checks: PreflightCheck[];
  constructor(checks: PreflightCheck[]) {
    super(
      `preflight failed: ${checks
        .filter((c) => c.status === 'failed')
        .map((c) => c.message)
        .join('; ')}`,
    );
    this.checks = checks;
  }
}

export interface PreflightOptions {
  spec: RolloutSpec;
  router: TrafficRouter;
  /** With hasHpa when it can tell (DeploymentWorkload can). */
  workload?: (Workload & { hasHpa?(side: Side): Promise<boolean> }) | null;
  /** Default: all traffic on the primary. */
  expectedStart?: Weights;
}

/**
 * Runs the checks and returns them; throws PreflightRefusedError when one failed. Only
 * RefusedErrors count as failed checks: anything else (a 5xx, a 403) is thrown as it is, so a
 * transient failure is retried rather than reported as a refusal.
 */
export async function preflightGloo(options: PreflightOptions): Promise<PreflightCheck[]> {
  const { spec, router, workload } = options;
  const { router: routerSpec } = spec.spec;
  const scale = routerSpec.weightScale;
  const expected = options.expectedStart ?? { primary: scale, canary: 0 };
  const checks: PreflightCheck[] = [];
  const check = async (name: PreflightCheck['name'], run: () => Promise<Omit<PreflightCheck, 'name'>>) => {
    try {
      checks.push({ name, ...(await run()) });
    } catch (error) {
      if (!(error instanceof RefusedError)) throw error;
      checks.push({ name, status: 'failed', message: error.message });
    }
  };
  const routerName = `${routerSpec.kind} ${routerSpec.namespace}/${routerSpec.name}`;

  await check('router', async () => {
    await router.reconcile();
    // reconcile() also checked, under A/B testing, the route order Gloo evaluates (gloo-marker-route.ts).
    const abRoute = spec.spec.strategy.match
      ? '; no route ahead of it takes all of its requests, so the A/B route (placed just ahead of it) will see the matched ones'
      : '';
    return {
      status: 'ok',
      message: `${routerName} lists the primary and canary upstreams, both exist, and a route sends traffic through it${abRoute}`,
    };
  });
  const w = spec.spec.workload;
  if (workload && w) {
    const canary = `Deployment ${w.namespace}/${w.canary}`;
    await check('canary-ready', async () => {
      if (!(await workload.isReady('canary'))) throw new RefusedError(`canary ${canary} is not ready (its rollout has not completed)`);
      return { status: 'ok', message: `canary ${canary} is ready` };
    });
    if (workload.hasHpa && (await workload.hasHpa('canary'))) {
      checks.push({
        name: 'canary-hpa',
        status: 'note',
        message: `a HorizontalPodAutoscaler manages ${canary}: Sluice will leave its replica count alone`,
      });
    }
  }
  await check('start-weights', async () => {
    const found = await router.getWeights();
    if (found.primary !== expected.primary || found.canary !== expected.canary) {
      throw new RefusedError(`${routerName} holds ${describeWeights(found)}; expected the start state ${describeWeights(expected)}`);
    }
    return { status: 'ok', message: `${routerName} holds the start state ${describeWeights(found)}` };
  });
  if (checks.some((c) => c.status === 'failed')) throw new PreflightRefusedError(checks);
  return checks;
}
