/**
 * The one start path behind every trigger, its pure half: what a start
 * request is, how a trigger becomes an idempotency-ledger key, which overrides an event may carry,
 * and the answers a trigger gets. The I/O half (registry, ledger, lock, StartExecution, queueing)
 * is lambdas/adapters/control/start-path.ts.
 *
 * Trust: the trigger's identity (`trigger.identity`) is what Sluice verified — the AWS account an
 * event came from, the ECR repository, the GitOps secret that signed a webhook, the Slack user.
 * Everything else inside an event (`requestedBy`, `overrides`) is a claim: recorded, shown, but a
 * claimed requester never counts as a verified person, and overrides pass only an allow-list the
 * target's own spec declares (`spec.triggers.overrides`).
 */
import type { LockHolder, TriggerRecord, TriggerSource } from './records.ts';
import { SpecError, parseSpec } from './spec.ts';
import type { RolloutSpec } from './spec.ts';

export type { TriggerSource } from './records.ts';

export interface TriggerIdentity {
  source: TriggerSource;
  /** The source's own idempotency key: event id or idempotencyKey, ECR digest, GitOps revision, Slack trigger_id, schedule name. */
  key: string;
  /** Who Sluice verified the trigger to come from (not a claim). */
  identity: string;
}

export interface StartRequest {
  target: string;
  version: string;
  /** Who asked. Trusted for `cli`, `slack` and `schedule` (Sluice wrote it); a claim for the others. */
  requestedBy: string;
  trigger: TriggerIdentity;
  /** Spec fields to change for this rollout, as a partial `spec` object (`{ strategy: { interval: '2m' } }`). */
  overrides?: Record<string, unknown> | undefined;
}

/** A check that can refuse a start (change windows, chat-ops access policy, …). */
export interface Refusal {
  reason: string;
}

/** What a check sees: the request, the resolved spec (overrides applied), the time and the lock. */
export interface StartContext {
  request: StartRequest;
  spec: RolloutSpec;
  now: Date;
  lock: LockHolder | null;
}

export type StartCheck = (context: StartContext) => Promise<Refusal | undefined>;

export type StartAnswer =
  | { outcome: 'started'; target: string; version: string; execution: string; executionArn: string; message: string }
  | { outcome: 'duplicate'; target: string; version: string; execution?: string; first: TriggerRecord; message: string }
  | { outcome: 'queued'; target: string; version: string; at: string; schedule: string; message: string }
  | { outcome: 'refused'; target: string; version: string; reason: string; message: string };

/** Sources whose `requestedBy` Sluice itself established (a signed Slack user, the local user, a schedule Sluice wrote). */
const TRUSTED_REQUESTER: ReadonlySet<TriggerSource> = new Set(['cli', 'slack', 'schedule']);

/** ExecutionInput.requestedBy allows 256 characters. */
const REQUESTED_BY_MAX = 256;

/** The ledger key: keyed per source, so an event id can never collide with a Slack trigger_id. */
export function ledgerKey(trigger: Pick<TriggerIdentity, 'source' | 'key'>): string {
  if (trigger.key === '') throw new Error(`a ${trigger.source} trigger needs an idempotency key`);
  return `${trigger.source}:${trigger.key}`;
}

/**
 * The execution input's `requestedBy`: trusted sources keep theirs (chat-ops' two-person rule reads
 * `slack:U…`); for the others the claim is kept but marked, next to the verified identity.
 */
export function requestedByOf(request: StartRequest): string {
  const text = TRUSTED_REQUESTER.has(request.trigger.source)
    ? request.requestedBy
    : `${request.requestedBy || 'unknown'} (claimed) via ${request.trigger.source}:${request.trigger.identity}`;
  return text.length > REQUESTED_BY_MAX ? `${text.slice(0, REQUESTED_BY_MAX - 1)}…` : text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The leaf paths of a partial object (`strategy.stepWeights`); arrays and scalars are leaves. */
export function overridePaths(overrides: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(overrides).flatMap(([key, value]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return isPlainObject(value) && Object.keys(value).length ? overridePaths(value, path) : [path];
  });
}

function merge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key];
    out[key] = isPlainObject(value) && isPlainObject(current) ? merge(current, value) : value;
  }
  return out;
}

/**
 * Applies `overrides` (a partial `spec`) when every leaf path lies under a path the target allows;
 * the result is validated again as a whole spec, so an override can never produce a spec the
 * schema would refuse. `metadata` can never be overridden (it names the target).
 */
export function applyOverrides(
  spec: RolloutSpec,
  overrides: Record<string, unknown> | undefined,
): { ok: true; spec: RolloutSpec } | { ok: false; reason: string } {
  if (!overrides || Object.keys(overrides).length === 0) return { ok: true, spec };
  const allowed = spec.spec.triggers?.overrides ?? [];
  const paths = overridePaths(overrides);
  const refused = paths.filter((path) => !allowed.some((prefix) => path === prefix || path.startsWith(`${prefix}.`)));
  if (refused.length) {
    const allowList = allowed.length ? `it allows only ${allowed.join(', ')}` : 'it allows none (spec.triggers.overrides)';
    return {
      ok: false,
      reason: `${spec.metadata.name} does not allow overriding ${refused.map((p) => `spec.${p}`).join(', ')} from a trigger: ${allowList}`,
    };
  }
  try {
    const merged = { ...spec, spec: merge(spec.spec as unknown as Record<string, unknown>, overrides) };
    return { ok: true, spec: parseSpec(merged, `${spec.metadata.name} with overrides`) };
  } catch (error) {
    if (error instanceof SpecError)
      return {
        ok: false,
        reason: `the overrides make an invalid spec: ${error.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      };
    throw error;
  }
}

/** The sentence a duplicate delivery gets. */
export function duplicateMessage(request: StartRequest, first: TriggerRecord): string {
  const what = first.detail?.['outcome'];
  const seen = `${ledgerKey(request.trigger)} was already handled at ${first.at}`;
  if (first.execution) return `${seen}: it started ${first.execution}; nothing started again`;
  if (what === 'queued') return `${seen}: it was queued (${String(first.detail?.['schedule'] ?? 'schedule')}); nothing started again`;
  return `${seen}: it was refused (${String(first.detail?.['reason'] ?? 'no reason recorded')}); send it again with a new idempotency key to retry`;
}
