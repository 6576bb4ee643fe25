/**
 * `sluice override` and `/sluice override`: records a window override for a target and audits it
 * the same way for the CLI and Slack — a `note` step on the running rollout (or on the target's
 * chat-ops log when none runs) and a `Command Audited` event, which also reaches the Slack thread.
 */
import type { EventPublisher, RolloutLog, RolloutRecords, TargetLocks, WindowOverrides } from '../../core/ports.ts';
import type { WindowOverride } from '../../core/records.ts';
import type { RolloutSpec } from '../../core/spec.ts';
import { planOverride } from '../../core/window-override.ts';
import { windowState } from '../../core/windows.ts';

export type OverrideResult = { ok: true; override: WindowOverride; execution: string; message: string } | { ok: false; message: string };

/** Where commands outside a rollout are audited (the Slack ack path uses the same log). */
export const chatopsLog = (target: string): string => `chatops-${target}`;

export async function overrideWindows(args: {
  store: WindowOverrides & TargetLocks & RolloutRecords & RolloutLog;
  events?: EventPublisher;
  spec: RolloutSpec;
  by: string;
  reason: string;
  /** How long it lasts; default: until the windows open again. */
  forMs?: number;
  now: Date;
}): Promise<OverrideResult> {
  const target = args.spec.metadata.name;
  const state = windowState(args.spec.spec.strategy.windows, args.now);
  const planned = planOverride({
    target,
    by: args.by,
    reason: args.reason,
    now: args.now,
    state,
    ...(args.forMs !== undefined ? { forMs: args.forMs } : {}),
  });
  if (!planned.ok) return planned;
  const { override } = planned;
  await args.store.putOverride(override);
  const lock = await args.store.getLock(target);
  const record = lock ? await args.store.getRollout(lock.owner) : null;
  const execution = record?.execution ?? chatopsLog(target);
  const windows = state.open ? `the windows are open now (${state.reason})` : `the windows are closed (${state.reason})`;
  const detail = `window override by ${override.by} until ${override.until}: ${override.reason}; ${windows}`.slice(0, 1000);
  await args.store.appendStep({ execution, at: override.at, kind: 'note', detail });
  await args.events?.publish({ detailType: 'Command Audited', target, version: record?.version ?? '-', execution, reason: detail });
  const effect = record ? `${record.execution} advances at its next look` : 'a start is not queued';
  return {
    ok: true,
    override,
    execution,
    message: `change windows of ${target} overridden until ${override.until} by ${override.by}: ${effect}`,
  };
}
