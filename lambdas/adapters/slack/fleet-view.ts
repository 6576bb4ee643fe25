/**
 * A fleet release as its Slack thread shows it, read from the store: each member's record (state,
 * weights), its last look, a pending approval gate, the fleet's operator controls, and how the
 * fleet execution ended (kept in the chat state when its status-change event arrives).
 */
import * as z from 'zod';
import type { FleetActed, FleetClusterView, FleetView } from '../../core/chatops/fleet-blocks.ts';
import { memberExecutionName, requireFleet } from '../../core/fleet.ts';
import { memberAddress } from '../../core/fleet-member.ts';
import type { AnalysisStates, RolloutLog, RolloutRecords, TaskTokens } from '../../core/ports.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { readFleetControlOf } from '../control/fleet-control.ts';
import type { FleetReleaseRef } from '../control/fleet-control.ts';
import { chatKeys } from './chat-state.ts';
import type { ChatState } from './chat-state.ts';

export type FleetViewStore = RolloutRecords & RolloutLog & TaskTokens & AnalysisStates;

/** How a fleet execution ended, from its Step Functions status change (kept under `fleet-end:<execution>`). */
export const fleetEndSchema = z.object({
  state: z.enum(['promoted', 'halted', 'stopped', 'refused']),
  reason: z.string().optional(),
});
export type FleetEnd = z.infer<typeof fleetEndSchema>;

export const fleetEndKey = (execution: string) => `fleet-end:${execution}`;

function parsed<T>(schema: z.ZodType<T>, text: string | null): T | undefined {
  if (!text) return undefined;
  try {
    const result = schema.safeParse(JSON.parse(text));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

const actedSchema = z.object({
  action: z.enum(['fleet-abort', 'fleet-pause', 'fleet-resume', 'fleet-promote-rest']),
  user: z.string(),
  at: z.string(),
});

export async function buildFleetView(
  store: FleetViewStore,
  chat: ChatState,
  spec: RolloutSpec,
  release: FleetReleaseRef,
): Promise<FleetView> {
  const fleet = requireFleet(spec);
  const target = spec.metadata.name;
  const scale = spec.spec.router.weightScale;
  let requestedBy: string | undefined;
  let startedAt: string | undefined;
  const waves: FleetView['waves'] = [];
  for (const wave of fleet.waves) {
    const clusters: FleetClusterView[] = [];
    for (const cluster of wave.clusters) {
      const execution = memberExecutionName(target, cluster, release.version, release.attempt);
      const record = await store.getRollout(execution);
      if (!record) {
        clusters.push({ cluster, execution, state: 'not-started', scale });
        continue;
      }
      if (!startedAt || record.startedAt < startedAt) {
        startedAt = record.startedAt;
        requestedBy = record.requestedBy;
      }
      const look = (await store.listSteps(execution)).filter((s) => s.kind === 'analysis' && s.verdict).at(-1);
      const pending = record.status === 'running' ? await store.getTaskToken(memberAddress(target, cluster)) : null;
      clusters.push({
        cluster,
        execution,
        state: record.status === 'running' ? 'running' : (record.outcome ?? 'finished'),
        weights: record.lastWeights,
        scale,
        reason: record.reason,
        lastLook: look?.verdict ? { at: look.at, verdict: look.verdict } : undefined,
        approvalGate: pending && pending.execution === execution && pending.gate !== 'bake' ? pending.gate : undefined,
      });
    }
    waves.push({ clusters, pause: wave.pause });
  }
  const control = await readFleetControlOf(store, release.execution);
  const end = parsed(fleetEndSchema, await chat.get(fleetEndKey(release.execution)));
  const aborted = parsed(actedSchema, await chat.get(chatKeys.click(release.execution, 'fleet-abort'))) as FleetActed | undefined;
  const promotedRest = parsed(actedSchema, await chat.get(chatKeys.click(release.execution, 'fleet-promote-rest'))) as
    | FleetActed
    | undefined;
  const state = end?.state ?? (control.halted ? 'halting' : control.paused ? 'paused' : 'running');
  return {
    target,
    version: release.version,
    execution: release.execution,
    state,
    reason: end?.reason ?? control.halted,
    requestedBy,
    startedAt,
    waves,
    promoteRest: control.promoteRest,
    control: control.paused && control.by && !control.halted ? { by: control.by, at: control.at } : undefined,
    aborted,
    promotedRest,
  };
}
