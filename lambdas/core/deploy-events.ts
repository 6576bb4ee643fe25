/**
 * Deploy events, parsed at the edge: the custom `Rollout Requested` event
 * (source `sluice`), ECR's `ECR Image Action` push, a schedule firing (EventBridge Scheduler's
 * Lambda target input), and the GitOps notifications (Flux `generic-hmac`, Argo CD webhook).
 * Pure: each becomes a start request, or a reason it starts nothing.
 */
import * as z from 'zod';
import { targetProblem, versionProblem } from './version.ts';
import { scheduledStartSchema } from './schedule.ts';
import type { RolloutSpec } from './spec.ts';
import type { StartRequest } from './start.ts';

export const ROLLOUT_REQUESTED = 'Rollout Requested';
export const SLUICE_SOURCE = 'sluice';

const version = z.string().trim().min(1).max(128);
const target = z.string().min(1).max(63);

/** `detail` of `Rollout Requested`: the primary contract (docs/deploy-events.md). */
export const rolloutRequestedDetailSchema = z.object({
  target,
  version,
  requestedBy: z.string().min(1).max(200),
  /** Deduplicates re-sends of the same request (a CI job re-run); default: the event's id. */
  idempotencyKey: z.string().min(1).max(200).optional(),
  /** A partial `spec`; applied only where the target's spec.triggers.overrides allows. */
  overrides: z.record(z.string(), z.unknown()).optional(),
});

const envelope = {
  id: z.string().min(1),
  account: z.string().default('unknown'),
  time: z.string().optional(),
  region: z.string().optional(),
};

export const rolloutRequestedEventSchema = z.object({
  ...envelope,
  source: z.literal(SLUICE_SOURCE),
  'detail-type': z.literal(ROLLOUT_REQUESTED),
  detail: rolloutRequestedDetailSchema,
});

export const ecrImageActionSchema = z.object({
  ...envelope,
  source: z.literal('aws.ecr'),
  'detail-type': z.literal('ECR Image Action'),
  detail: z.object({
    'action-type': z.string(),
    result: z.string(),
    'repository-name': z.string().min(1),
    'image-digest': z.string().regex(/^[a-z0-9]+:[0-9a-f]{32,}$/, { message: 'expected an image digest such as sha256:<hex>' }),
    'image-tag': z.string().optional(),
  }),
});

/** Everything the start handler accepts: two EventBridge events, or a schedule's input. */
export const startEventSchema = z.union([rolloutRequestedEventSchema, ecrImageActionSchema, scheduledStartSchema]);
export type StartEvent = z.infer<typeof startEventSchema>;
export type RolloutRequestedEvent = z.infer<typeof rolloutRequestedEventSchema>;
export type EcrImageActionEvent = z.infer<typeof ecrImageActionSchema>;

export function isEcrEvent(event: StartEvent): event is EcrImageActionEvent {
  return 'source' in event && event.source === 'aws.ecr';
}

export function isRolloutRequested(event: StartEvent): event is RolloutRequestedEvent {
  return 'source' in event && event.source === SLUICE_SOURCE;
}

export function rolloutRequestedToStart(event: RolloutRequestedEvent): StartRequest {
  const { detail } = event;
  return {
    target: detail.target,
    version: detail.version,
    requestedBy: detail.requestedBy,
    // Only the account is verified: EventBridge stamps it; everything in `detail` is the sender's claim.
    trigger: { source: 'event', key: detail.idempotencyKey ?? event.id, identity: `account ${event.account}` },
    ...(detail.overrides ? { overrides: detail.overrides } : {}),
  };
}

export function scheduledToStart(event: z.infer<typeof scheduledStartSchema>): StartRequest {
  return {
    target: event.target,
    version: event.version,
    requestedBy: event.requestedBy,
    trigger: { source: 'schedule', key: event.idempotencyKey, identity: `schedule ${event.idempotencyKey}` },
  };
}

/** Why an ECR push starts nothing for a target, or undefined when it should start one. */
export function ecrMismatch(spec: RolloutSpec, event: EcrImageActionEvent): string | undefined {
  const { detail } = event;
  const trigger = spec.spec.triggers?.ecr;
  if (!trigger || trigger.repository !== detail['repository-name'])
    return `${spec.metadata.name} does not watch ECR repository ${detail['repository-name']}`;
  if (detail['action-type'] !== 'PUSH' || detail.result !== 'SUCCESS')
    return `not a successful push (${detail['action-type']} ${detail.result})`;
  const tag = detail['image-tag'];
  if (!tag) return 'the push carries no tag (a digest-only push, e.g. one platform of a multi-arch image)';
  let pattern: RegExp;
  try {
    pattern = new RegExp(trigger.tagPattern);
  } catch (error) {
    return `spec.triggers.ecr.tagPattern of ${spec.metadata.name} is not a valid regular expression: ${(error as Error).message}`;
  }
  if (!pattern.test(tag)) return `tag ${tag} does not match ${spec.metadata.name}'s tagPattern ${trigger.tagPattern}`;
  return undefined;
}

/** Ledger keys of an ECR push for one target: the digest is the version's identity; the tag remembers its digest. */
export function ecrKeys(targetName: string, event: EcrImageActionEvent): { digest: string; tag: string } {
  const repo = event.detail['repository-name'];
  return {
    digest: `${targetName}/${repo}@${event.detail['image-digest']}`,
    tag: `${targetName}/${repo}:${event.detail['image-tag'] ?? ''}`,
  };
}

export function ecrToStart(targetName: string, event: EcrImageActionEvent): StartRequest {
  return {
    target: targetName,
    version: event.detail['image-tag'] ?? event.detail['image-digest'],
    requestedBy: `ecr push of ${event.detail['repository-name']}@${event.detail['image-digest']}`,
    trigger: {
      source: 'ecr',
      key: ecrKeys(targetName, event).digest,
      identity: `account ${event.account} repository ${event.detail['repository-name']}`,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// GitOps notifications
// ---------------------------------------------------------------------------------------------

/** Flux's notification Event (notification-controller `generic` / `generic-hmac` providers post it as JSON). */
export const fluxEventSchema = z.object({
  involvedObject: z.object({ kind: z.string(), name: z.string(), namespace: z.string().optional() }),
  severity: z.string(),
  timestamp: z.string().optional(),
  message: z.string().optional(),
  reason: z.string(),
  metadata: z.record(z.string(), z.string()).default({}),
  reportingController: z.string().optional(),
});

/** What the Argo CD notifications template in docs/deploy-events.md sends. */
export const argoPayloadSchema = z.object({
  target,
  /** The image (or tag) Argo CD deployed; the revision when empty. */
  version: z.string().default(''),
  revision: z.string().min(1),
  app: z.string().optional(),
  requestedBy: z.string().optional(),
});

/** Flux reasons that mean "the new revision is applied". */
const FLUX_APPLIED = new Set(['ReconciliationSucceeded', 'UpgradeSucceeded', 'InstallSucceeded']);

/** `ghcr.io/org/podinfo:6.5.1` -> `6.5.1`; a plain tag or anything else stays as it is. */
export function versionFromImage(text: string): string {
  const trimmed = text.trim();
  const at = trimmed.indexOf('@');
  const withoutDigest = at >= 0 ? trimmed.slice(0, at) : trimmed;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  if (lastSlash >= 0 && colon > lastSlash) return withoutDigest.slice(colon + 1);
  return trimmed;
}

/** `main@sha1:0123abcd…` -> `main-0123abcd` (a readable version when none is given). */
export function versionFromRevision(revision: string): string {
  const match = /^(?:(.*)@)?(?:sha1|sha256):([0-9a-f]{7,})/.exec(revision);
  if (!match) return revision;
  return `${match[1] ? `${match[1]}-` : ''}${(match[2] ?? '').slice(0, 12)}`;
}

export type GitopsParse = { ok: true; request: StartRequest } | { ok: false; ignored: string } | { ok: false; invalid: string };

function problems(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ');
}

/** A Flux Event -> a start of `metadata.target` at `metadata.version` (else the revision), keyed by the revision. */
export function fluxToStart(body: unknown, identity: string): GitopsParse {
  const parsed = fluxEventSchema.safeParse(body);
  if (!parsed.success) return { ok: false, invalid: `not a Flux event: ${problems(parsed.error)}` };
  const event = parsed.data;
  const object = `${event.involvedObject.kind}/${event.involvedObject.namespace ? `${event.involvedObject.namespace}/` : ''}${event.involvedObject.name}`;
  if (event.severity !== 'info' || !FLUX_APPLIED.has(event.reason))
    return { ok: false, ignored: `${object} ${event.severity} ${event.reason}: not a successful reconciliation` };
  const targetName = event.metadata['target'];
  const revision = event.metadata['revision'];
  if (!targetName) return { ok: false, invalid: `${object}: metadata.target is missing (set it with the Alert's spec.eventMetadata)` };
  if (!revision) return { ok: false, ignored: `${object} ${event.reason}: the event names no revision` };
  const versionText = event.metadata['version'] ? versionFromImage(event.metadata['version']) : versionFromRevision(revision);
  const malformed = targetProblem(targetName) ?? versionProblem(versionText);
  if (malformed) return { ok: false, invalid: `${object}: ${malformed}` };
  return {
    ok: true,
    request: {
      target: targetName,
      version: versionText,
      requestedBy: `flux ${object}`,
      trigger: { source: 'gitops', key: `flux:${targetName}:${revision}`, identity },
    },
  };
}

/** The Argo CD template's payload -> a start, keyed by the synced revision. */
export function argoToStart(body: unknown, identity: string): GitopsParse {
  const parsed = argoPayloadSchema.safeParse(body);
  if (!parsed.success) return { ok: false, invalid: `not the Argo CD payload Sluice expects: ${problems(parsed.error)}` };
  const payload = parsed.data;
  const versionText = payload.version.trim() ? versionFromImage(payload.version) : versionFromRevision(payload.revision);
  const malformed = targetProblem(payload.target) ?? versionProblem(versionText);
  if (malformed) return { ok: false, invalid: malformed };
  return {
    ok: true,
    request: {
      target: payload.target,
      version: versionText,
      requestedBy: payload.requestedBy ?? `argocd ${payload.app ?? payload.target}`,
      trigger: { source: 'gitops', key: `argocd:${payload.target}:${payload.revision}`, identity },
    },
  };
}
