/**
 * Doctor mode of the deployed Prepare and SetWeight functions (`sluice doctor --stack`): an
 * invocation `{ doctor: 'read' | 'write', spec }` runs the checks of lambdas/app/doctor.ts
 * in that function's role — reads in Prepare's (the read-only group), dry-run patches in the
 * writers' — and returns `{ checks }`. It takes no lock, writes no record, publishes no event and
 * moves no weight. Any other event goes to the rollout handler unchanged.
 */
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { rolloutSpecSchema } from '../core/spec.ts';
import { readChecks, writeChecks } from './doctor.ts';
import type { DoctorCheck } from './doctor.ts';
import type { DepsSource, HandlerDeps } from './deps.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import type { RolloutSpec } from '../core/spec.ts';

export const doctorEventSchema = z.strictObject({ doctor: z.enum(['read', 'write']), spec: rolloutSpecSchema });
export type DoctorEvent = z.infer<typeof doctorEventSchema>;

export interface DoctorAnswer {
  mode: DoctorEvent['doctor'];
  checks: DoctorCheck[];
}

export function isDoctorEvent(event: unknown): boolean {
  return typeof event === 'object' && event !== null && 'doctor' in event;
}

/** Runs one doctor half; a malformed doctor event is answered with one failed check naming the field. */
export async function runDoctorEvent(
  event: unknown,
  deps: DepsSource<HandlerDeps>,
  kubeConfigOf: (spec: RolloutSpec) => Promise<KubeConfig>,
): Promise<DoctorAnswer> {
  const parsed = doctorEventSchema.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      mode: 'read',
      checks: [
        {
          name: 'request',
          status: 'failed',
          message: `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
          fix: 'send { doctor: "read" | "write", spec }',
        },
      ],
    };
  }
  const { doctor, spec } = parsed.data;
  if (doctor === 'write') return { mode: 'write', checks: await writeChecks(spec, await kubeConfigOf(spec)) };
  const handlerDeps = await deps();
  return { mode: 'read', checks: await readChecks(spec, { cluster: handlerDeps, metrics: handlerDeps }) };
}

/** Wraps a rollout handler: doctor events are answered here, everything else passes through. */
export function withDoctorMode<E, R>(
  handler: (event: E, context: Context) => Promise<R>,
  deps: DepsSource<HandlerDeps>,
  kubeConfigOf: (spec: RolloutSpec) => Promise<KubeConfig>,
): (event: E, context: Context) => Promise<R | DoctorAnswer> {
  return async (event, context) => (isDoctorEvent(event) ? runDoctorEvent(event, deps, kubeConfigOf) : handler(event, context));
}
