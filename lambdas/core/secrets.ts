/**
 * Secrets by reference. A secret-bearing field of the spec (web provider and
 * webhook headers, Prometheus bearerToken / basicAuth.password, webhook and notification URLs)
 * takes either a value or a reference:
 *
 *   { secretRef: { secretsManager: <secret ARN or name>, key?: <JSON key> } }   deployed and local
 *   { secretRef: { env: NAME } }                                                 local only
 *   { secretRef: { file: PATH } }                                                local only
 *
 * The reference is what travels: in SSM, the execution input, the store, events and logs. The
 * value is resolved inside the process that uses it, at the moment it is used
 * (lambdas/adapters/secrets/resolver.ts), and goes nowhere else. Pure: no I/O here.
 */
import * as z from 'zod';

export const secretRefSchema = z.strictObject({
  secretRef: z.union(
    [
      z.strictObject({
        secretsManager: z.string().min(1).max(2048),
        /** The key of a JSON secret string; without it the whole SecretString is the value. */
        key: z.string().min(1).optional(),
      }),
      z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'expected an environment variable name' }) }),
      z.strictObject({ file: z.string().min(1) }),
    ],
    { error: 'expected { secretsManager: ARN or name, key? }, { env: NAME } or { file: PATH }' },
  ),
});

export type SecretRef = z.infer<typeof secretRefSchema>;

/** A secret-bearing string: the value itself (local use) or a reference to it. */
export const secretString = z.union([z.string().min(1), secretRefSchema], {
  error: 'expected a string, or { secretRef: { secretsManager | env | file } }',
});
export type SecretString = z.infer<typeof secretString>;

/** A URL that may carry a secret (a Slack incoming webhook, a token in the path): a value or a reference. */
export const secretUrl = z.union([z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }), secretRefSchema], {
  error: 'expected an http(s) URL, or { secretRef: { secretsManager | env | file } } holding one',
});
export type SecretUrl = z.infer<typeof secretUrl>;

export function isSecretRef(value: unknown): value is SecretRef {
  return typeof value === 'object' && value !== null && 'secretRef' in value;
}

/** How a reference reads in messages and logs: where the value lives, never the value. */
export function describeSecretRef(ref: SecretRef): string {
  const r = ref.secretRef;
  if ('secretsManager' in r) return `Secrets Manager secret ${r.secretsManager}${r.key ? ` (key ${r.key})` : ''}`;
  if ('env' in r) return `environment variable ${r.env}`;
  return `file ${r.file}`;
}

/** The reference form a deployed target must use instead of a value, for error messages. */
export const REFERENCE_FORM = '{ secretRef: { secretsManager: <secret ARN>, key: <JSON key> } }';

const TOKEN_QUERY = /^(token|access_?token|api_?key|apikey|key|secret|signature|sig|password|pass|auth|code|client_secret)$/i;

/**
 * An address with its secrets removed, for messages: userinfo and the query string go, so
 * `https://u:p@prom.example.com/x?token=t` reads `https://prom.example.com/x?…`.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const query = parsed.search ? '?…' : '';
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    parsed.hash = '';
    return `${parsed.toString().replace(/\/$/, '')}${query}`;
  } catch {
    return '(an address that does not parse)';
  }
}

/** Why a URL given by value would leak a secret, or undefined. */
export function secretShapedUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.username || parsed.password) return 'carries credentials (user:password@)';
  const tokenParams = [...parsed.searchParams.keys()].filter((k) => TOKEN_QUERY.test(k));
  if (tokenParams.length) return `carries a token-like query parameter (${tokenParams.join(', ')})`;
  // Slack incoming webhooks: the path is the secret.
  if (/(^|\.)hooks\.slack\.com$/.test(parsed.hostname)) return 'is a Slack incoming webhook, whose path is its secret';
  return undefined;
}

interface SecretField {
  path: string;
  value: SecretString | SecretUrl;
  kind: 'header' | 'token' | 'password' | 'url';
}

/** Structural view of the spec parts that hold secret-bearing fields (kept loose so this module needs no import of spec.ts). */
interface SpecLike {
  spec: {
    analysis: {
      prometheus?: { bearerToken?: SecretString | undefined; basicAuth?: { password: SecretString } | undefined } | undefined;
      metrics: ReadonlyArray<{
        provider?:
          | {
              type: string;
              headers?: Record<string, SecretString> | undefined;
              bearerToken?: SecretString | undefined;
              basicAuth?: { password: SecretString } | undefined;
            }
          | undefined;
      }>;
      webhooks?: ReadonlyArray<{ url: SecretUrl; headers?: Record<string, SecretString> | undefined }> | undefined;
    };
    notifications?:
      | { webhooks?: ReadonlyArray<{ url: SecretUrl; headers?: Record<string, SecretString> | undefined }> | undefined }
      | undefined;
  };
}

/** Every secret-bearing field of a spec with its path (values and references alike). */
export function secretFields(spec: SpecLike): SecretField[] {
  const out: SecretField[] = [];
  const server = (
    at: string,
    s: { bearerToken?: SecretString | undefined; basicAuth?: { password: SecretString } | undefined } | undefined,
  ) => {
    if (s?.bearerToken !== undefined) out.push({ path: `${at}.bearerToken`, value: s.bearerToken, kind: 'token' });
    if (s?.basicAuth) out.push({ path: `${at}.basicAuth.password`, value: s.basicAuth.password, kind: 'password' });
  };
  const headers = (at: string, h: Record<string, SecretString> | undefined) => {
    for (const [name, value] of Object.entries(h ?? {})) out.push({ path: `${at}.headers.${name}`, value, kind: 'header' });
  };
  const { analysis, notifications } = spec.spec;
  server('spec.analysis.prometheus', analysis.prometheus);
  analysis.metrics.forEach((metric, i) => {
    const provider = metric.provider;
    if (provider?.type === 'prometheus') server(`spec.analysis.metrics[${i}].provider`, provider);
    headers(`spec.analysis.metrics[${i}].provider`, provider?.headers);
  });
  analysis.webhooks?.forEach((hook, i) => {
    out.push({ path: `spec.analysis.webhooks[${i}].url`, value: hook.url, kind: 'url' });
    headers(`spec.analysis.webhooks[${i}]`, hook.headers);
  });
  notifications?.webhooks?.forEach((hook, i) => {
    out.push({ path: `spec.notifications.webhooks[${i}].url`, value: hook.url, kind: 'url' });
    headers(`spec.notifications.webhooks[${i}]`, hook.headers);
  });
  return out;
}

/** Every reference in a spec, with its path. */
export function secretRefs(spec: SpecLike): Array<{ path: string; ref: SecretRef }> {
  return secretFields(spec).flatMap((f) => (isSecretRef(f.value) ? [{ path: f.path, ref: f.value }] : []));
}

/**
 * What a deployed target may not carry by value: header values, tokens and passwords, and URLs
 * that carry credentials (userinfo, token-like query parameters, a Slack webhook path). Also
 * refused: env and file references, which mean nothing inside a Lambda.
 */
export function deployedSecretProblems(
  spec: SpecLike,
  extraUrls: ReadonlyArray<{ path: string; url: string }> = [],
): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  const byValue = (path: string, why: string) =>
    problems.push({
      path,
      message: `${why}: a value here would be stored in plain text in SSM, the execution input and the logs; give a reference instead: ${REFERENCE_FORM}`,
    });
  for (const field of secretFields(spec)) {
    if (isSecretRef(field.value)) {
      const r = field.value.secretRef;
      if (!('secretsManager' in r))
        problems.push({
          path: field.path,
          message: `${'env' in r ? 'an env' : 'a file'} reference works only locally; a deployed target references Secrets Manager: ${REFERENCE_FORM}`,
        });
      else if (!/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/.test(r.secretsManager)) {
        problems.push({
          path: field.path,
          message: `a deployed target names the secret by its complete ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX), so the Lambdas are granted exactly that secret; got "${r.secretsManager}"`,
        });
      }
      continue;
    }
    if (field.kind === 'url') {
      const why = secretShapedUrl(field.value);
      if (why) byValue(field.path, `this URL ${why}`);
    } else {
      byValue(field.path, field.kind === 'header' ? 'a header value may be a credential' : `an inline ${field.kind}`);
    }
  }
  for (const { path, url } of extraUrls) {
    const why = secretShapedUrl(url);
    if (why)
      problems.push({
        path,
        message: `this address ${why}: not allowed in a deployed target (put credentials in bearerToken / basicAuth / headers, by reference: ${REFERENCE_FORM})`,
      });
  }
  return problems;
}

/** Replaces every occurrence of each secret value in `text` (values shorter than 4 characters are left: they would blank ordinary words). */
export function redactValues(text: string, values: Iterable<string>): string {
  let out = text;
  for (const value of values) if (value.length >= 4) out = out.split(value).join('[redacted]');
  return out;
}
