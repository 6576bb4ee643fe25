/**
 * Resolves secret references (lambdas/core/secrets.ts) inside the process that uses them, at the
 * moment of use. Secrets Manager through Powertools Parameters (`getSecret`: one client per
 * process, values cached for five minutes, so a warm Lambda asks once per secret per five
 * minutes); `env` and `file` for local runs. A value resolved here is returned to its caller and
 * remembered only for redaction (knownSecretValues): it is never logged, never put in an error
 * message, and never written to the execution input, the store or an event.
 */
import { readFile } from 'node:fs/promises';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { describeSecretRef, isSecretRef, redactValues } from '../../core/secrets.ts';
import type { SecretRef, SecretString, SecretUrl } from '../../core/secrets.ts';

export interface SecretResolver {
  /** The secret's value; throws SecretResolutionError (naming the reference, never a value). */
  resolve(ref: SecretRef): Promise<string>;
}

export class SecretResolutionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretResolutionError';
  }
}

/** Seconds a Secrets Manager value stays cached in a warm process (Powertools' maxAge). */
export const SECRET_CACHE_SECONDS = 300;

export interface DefaultResolverOptions {
  env?: NodeJS.ProcessEnv;
  /** Reads a whole SecretString; default Powertools getSecret (cached). */
  getSecretString?: (id: string) => Promise<string | undefined>;
}

async function powertoolsSecret(id: string): Promise<string | undefined> {
  const value = await getSecret(id, { maxAge: SECRET_CACHE_SECONDS });
  if (value === undefined || typeof value === 'string') return value;
  return Buffer.from(value).toString('utf8');
}

export function defaultSecretResolver(options: DefaultResolverOptions = {}): SecretResolver {
  const env = options.env ?? process.env;
  const read = options.getSecretString ?? powertoolsSecret;
  return {
    async resolve(ref) {
      const r = ref.secretRef;
      const where = describeSecretRef(ref);
      if ('env' in r) {
        const value = env[r.env];
        if (!value) throw new SecretResolutionError(`${where} is not set`);
        return value;
      }
      if ('file' in r) {
        try {
          return (await readFile(r.file, 'utf8')).trim();
        } catch (error) {
          throw new SecretResolutionError(`${where} could not be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
            cause: error,
          });
        }
      }
      let secret: string | undefined;
      try {
        secret = await read(r.secretsManager);
      } catch (error) {
        // SDK errors name the secret and the reason (AccessDenied, ResourceNotFound), never its value;
        // Powertools wraps them in a GetParameterError whose cause is the SDK's.
        const cause = (error as Error).cause;
        const root = (error as Error).name === 'GetParameterError' && cause instanceof Error ? cause : (error as Error);
        throw new SecretResolutionError(`${where} could not be read (${root.name}: ${root.message})`, { cause: error });
      }
      if (secret === undefined || secret === '') throw new SecretResolutionError(`${where} has no SecretString`);
      if (!r.key) return secret;
      let parsed: unknown;
      try {
        parsed = JSON.parse(secret);
      } catch {
        // No cause: JSON.parse's message quotes the text it could not parse, the secret itself.
        throw new SecretResolutionError(`${where}: the SecretString is not a JSON object, so key ${r.key} cannot be read`);
      }
      const value = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)[r.key] : undefined;
      if (typeof value !== 'string' || value === '')
        throw new SecretResolutionError(`${where}: the SecretString has no string at key ${r.key}`);
      return value;
    },
  };
}

let current: SecretResolver = defaultSecretResolver();
const known = new Set<string>();

/** Replaces the process's resolver (tests, the local runtime); returns a function that restores the previous one. */
export function useSecretResolver(resolver: SecretResolver): () => void {
  const previous = current;
  current = resolver;
  return () => {
    current = previous;
  };
}

/** Values resolved in this process so far, for redaction of messages that might quote them. */
export function knownSecretValues(): ReadonlySet<string> {
  return known;
}

/** Removes every value resolved so far from `text`. */
export function redactKnownSecrets(text: string): string {
  return redactValues(text, known);
}

/** The value of a secret-bearing field: itself when given by value, else resolved; `field` names it in errors. */
export async function resolveSecret(value: SecretString | SecretUrl, field: string): Promise<string> {
  if (!isSecretRef(value)) return value;
  try {
    const resolved = await current.resolve(value);
    known.add(resolved);
    return resolved;
  } catch (error) {
    if (error instanceof SecretResolutionError) throw new SecretResolutionError(`${field}: ${error.message}`, { cause: error });
    throw new SecretResolutionError(`${field}: ${describeSecretRef(value)} could not be resolved`, { cause: error });
  }
}

/** Resolves every value of a header map. */
export async function resolveHeaders(headers: Record<string, SecretString> | undefined, field: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name] = await resolveSecret(value, `${field}.${name}`);
  return out;
}
