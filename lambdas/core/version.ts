/**
 * What every entry point accepts as a version and a target: one rule, checked
 * before anything is recorded, so a Flux notification with a 500-character version is answered
 * 400 at the door instead of 202 and a failed execution later. The limits are the execution
 * input's (lambdas/core/task.ts: version at most 128 characters), so what passes here also passes there.
 */
export const MAX_VERSION_LENGTH = 128;

/** A target is a spec's metadata.name: a lowercase DNS label (never a path such as ../../x). */
export const TARGET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why `version` cannot be started, or undefined. */
export function versionProblem(version: string): string | undefined {
  if (version.trim() === '') return 'no version given';
  if (version.length > MAX_VERSION_LENGTH) return `version is ${version.length} characters long; at most ${MAX_VERSION_LENGTH}`;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(version)) return 'version contains control characters';
  return undefined;
}

/** Why `target` is not a target name, or undefined. */
export function targetProblem(target: string): string | undefined {
  if (target.length > 63 || !TARGET_NAME.test(target))
    return `target "${target.slice(0, 80)}" is not a target name (lowercase a-z, 0-9 and -, at most 63 characters)`;
  return undefined;
}
