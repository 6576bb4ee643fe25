/**
 * Step Functions execution names: target + version, sanitized to the characters
 * Step Functions allows, at most 80 characters, plus an attempt suffix so the same version can
 * be started again after a rollback (Step Functions keeps a used name for 90 days).
 *
 * node:crypto is used here only to hash (no I/O); it is synchronous, which keeps this pure
 * function synchronous (the @aws-crypto/sha256-js digest is async).
 */
import { createHash } from 'node:crypto';

/** Step Functions: 1–80 characters; we keep to the portable subset [A-Za-z0-9-_]. */
export const EXECUTION_NAME_MAX = 80;
const HASH_LENGTH = 8;

function sanitize(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '-');
}

/** Stable short hash of the unsanitized inputs: two long versions that only differ after the cut stay apart. */
function shortHash(target: string, version: string): string {
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  return createHash('sha256').update(`${target}\u0000${version}`).digest('hex').slice(0, HASH_LENGTH);
}

/**
 * `podinfo-v1-2-3` for attempt 1, `podinfo-v1-2-3-a2` for attempt 2. When the name would exceed
 * 80 characters, the target+version part is cut and `-<8 hex of sha256(target, version)>` is
 * appended before the attempt suffix.
 */
export function executionName(target: string, version: string, attempt = 1): string {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new Error(`execution attempt must be an integer >= 1, got ${attempt}`);
  }
  if (target === '' || version === '') {
    throw new Error(`execution name needs a target and a version (got target "${target}", version "${version}")`);
  }
  const suffix = attempt === 1 ? '' : `-a${attempt}`;
  const base = sanitize(`${target}-${version}`);
  if (base.length + suffix.length <= EXECUTION_NAME_MAX) return `${base}${suffix}`;
  const hash = `-${shortHash(target, version)}`;
  const room = EXECUTION_NAME_MAX - suffix.length - hash.length;
  return `${base.slice(0, room)}${hash}${suffix}`;
}
