/**
 * Overriding the change windows: an authorized person lets a target move while its
 * windows are closed, with a reason, for a bounded time. Pure: the adapter stores and audits it.
 *
 * While an override is in force a closed window counts as open: Analyze advances a held rollout and
 * the start path starts instead of queueing. `promote now` alone never skips a closed window.
 */
import type { WindowOverride } from './records.ts';
import type { WindowState } from './windows.ts';

/** Used when nothing reopens the windows within a year and no duration was given. */
export const DEFAULT_OVERRIDE_MS = 60 * 60_000;

/** The override when it is still in force at `now`, else null. */
export function activeOverride(override: WindowOverride | null | undefined, now: Date): WindowOverride | null {
  return override && Date.parse(override.until) > now.getTime() ? override : null;
}

/** The windows as Analyze and the start path see them: a closed window under an override counts as open. */
export function withOverride(state: WindowState, override: WindowOverride | null | undefined, now: Date): WindowState {
  const active = activeOverride(override, now);
  if (state.open || !active) return state;
  return {
    open: true,
    reason: `window override by ${active.by} until ${active.until} (${active.reason}); ${state.reason}`,
    closesAt: new Date(active.until),
  };
}

/**
 * When a new override ends: after `forMs` when given, else when the windows open again (the current
 * closed stretch), else after DEFAULT_OVERRIDE_MS. Refused without a reason, or with a bad duration.
 */
export function planOverride(args: {
  target: string;
  by: string;
  reason: string;
  now: Date;
  state: WindowState;
  forMs?: number;
}): { ok: true; override: WindowOverride } | { ok: false; message: string } {
  const reason = args.reason.trim();
  if (!reason) return { ok: false, message: `an override of ${args.target}'s change windows needs a reason (it is audited)` };
  if (args.forMs !== undefined && (!Number.isFinite(args.forMs) || args.forMs <= 0))
    return { ok: false, message: 'the override duration must be positive' };
  const now = args.now.getTime();
  const until = args.forMs !== undefined ? now + args.forMs : (args.state.nextOpening?.getTime() ?? now + DEFAULT_OVERRIDE_MS);
  return {
    ok: true,
    override: {
      target: args.target,
      by: args.by,
      reason: reason.slice(0, 500),
      at: args.now.toISOString(),
      until: new Date(until).toISOString(),
    },
  };
}
