/**
 * The GitOps webhook's shared secrets (the Flux HMAC key, the Argo CD bearer token), from one
 * Secrets Manager secret in AWS (tests and local runs pass their own).
 */
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { SECRET_CACHE_SECONDS } from './resolver.ts';

export interface GitopsSecrets {
  /** The HMAC key of the Flux `generic-hmac` Provider (its Secret's `token`). */
  flux?: string | undefined;
  /** The bearer token the Argo CD webhook service sends. */
  argocd?: string | undefined;
}

/**
 * One JSON secret `{ "flux": "…", "argocd": "…" }` (or one `token` for both) from Secrets Manager,
 * through Powertools Parameters: cached for `maxAgeSeconds` (a rotation lands within it), a failed
 * read not cached.
 */
export function secretsManagerSecrets(secretId: string, maxAgeSeconds = SECRET_CACHE_SECONDS): () => Promise<GitopsSecrets> {
  return async () => {
    const text = await getSecret(secretId, { maxAge: maxAgeSeconds });
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof text === 'string' && text !== '' ? text : '{}');
    } catch (error) {
      throw new Error(`secret ${secretId} is not JSON ({ "flux": "…", "argocd": "…" })`, { cause: error });
    }
    const record = (parsed ?? {}) as Record<string, unknown>;
    const value = (field: unknown) => (typeof field === 'string' && field !== '' ? field : undefined);
    // `token` (what the construct generates) serves both until separate keys are set.
    return { flux: value(record['flux']) ?? value(record['token']), argocd: value(record['argocd']) ?? value(record['token']) };
  };
}
