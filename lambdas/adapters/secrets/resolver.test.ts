/**
 * The secret resolver: Secrets Manager through Powertools Parameters (the real getSecret and SDK
 * client, stubbed at the SDK boundary), env and file references, and errors that name the field
 * and the reference but never a value. Also: Prometheus and web errors never quote URL userinfo
 * or query strings.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { clearCaches } from '@aws-lambda-powertools/parameters';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redactUrl, secretShapedUrl } from '../../core/secrets.ts';
import { PrometheusProvider } from '../metrics/prometheus.ts';
import { defaultSecretResolver, knownSecretValues, resolveHeaders, resolveSecret, useSecretResolver } from './resolver.ts';
import { WebProvider } from '../metrics/web.ts';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/web-AbCdEf';
const sm = mockClient(SecretsManagerClient);
const dir = mkdtempSync(join(tmpdir(), 'sluice-secret-files-'));

beforeEach(() => {
  sm.reset();
  clearCaches();
  process.env.AWS_REGION ??= 'us-east-1';
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Secrets Manager references (Powertools getSecret)', () => {
  it('reads the secret once per process (cached) and takes the JSON key', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ apiKey: 'k-1234567890', other: 'x' }) });

    const first = await resolveSecret(
      { secretRef: { secretsManager: ARN, key: 'apiKey' } },
      'spec.analysis.metrics[0].provider.headers.X-Api-Key',
    );
    const second = await resolveSecret({ secretRef: { secretsManager: ARN, key: 'apiKey' } }, 'again');

    expect([first, second]).toEqual(['k-1234567890', 'k-1234567890']);
    expect(sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([{ SecretId: ARN }]);
    expect(knownSecretValues().has('k-1234567890')).toBe(true);
  });

  it('without a key, the whole SecretString is the value', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'https://hooks.slack.com/services/T/B/abcdef' });
    expect(await resolveSecret({ secretRef: { secretsManager: ARN } }, 'spec.notifications.webhooks[0].url')).toBe(
      'https://hooks.slack.com/services/T/B/abcdef',
    );
  });

  it('names the field and the secret when it cannot be read (AccessDenied), or when the key is missing; never the value', async () => {
    const denied = Object.assign(new Error('User is not authorized to perform: secretsmanager:GetSecretValue'), {
      name: 'AccessDeniedException',
    });
    sm.on(GetSecretValueCommand).rejects(denied);
    await expect(resolveSecret({ secretRef: { secretsManager: ARN } }, 'spec.analysis.prometheus.bearerToken')).rejects.toThrow(
      `spec.analysis.prometheus.bearerToken: Secrets Manager secret ${ARN} could not be read (AccessDeniedException: User is not authorized`,
    );
    sm.reset();
    clearCaches();
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'not-json-but-secret-9f8e7d' });
    const error = await resolveSecret({ secretRef: { secretsManager: ARN, key: 'token' } }, 'webhook load headers.Authorization').then(
      () => new Error('resolved'),
      (e: unknown) => e as Error,
    );
    expect(error.message).toBe(
      `webhook load headers.Authorization: Secrets Manager secret ${ARN} (key token): the SecretString is not a JSON object, so key token cannot be read`,
    );
    expect(JSON.stringify({ message: error.message, cause: String(error.cause) })).not.toContain('not-json-but-secret');
  });
});

describe('local references', () => {
  afterEach(() => undefined);

  it('env and file references resolve; a value given by value is itself', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, 'file-token-123\n');
    const restore = useSecretResolver(defaultSecretResolver({ env: { PROM_TOKEN: 'env-token-456' } }));
    try {
      expect(await resolveSecret({ secretRef: { env: 'PROM_TOKEN' } }, 'f')).toBe('env-token-456');
      expect(await resolveSecret({ secretRef: { file } }, 'f')).toBe('file-token-123');
      expect(await resolveSecret('plain', 'f')).toBe('plain');
      expect(await resolveHeaders({ A: 'a', B: { secretRef: { env: 'PROM_TOKEN' } } }, 'h')).toEqual({ A: 'a', B: 'env-token-456' });
      await expect(resolveSecret({ secretRef: { env: 'MISSING' } }, 'spec.analysis.webhooks[0].url')).rejects.toThrow(
        'spec.analysis.webhooks[0].url: environment variable MISSING is not set',
      );
      await expect(resolveSecret({ secretRef: { file: join(dir, 'nope') } }, 'x')).rejects.toThrow(
        `x: file ${join(dir, 'nope')} could not be read (ENOENT)`,
      );
    } finally {
      restore();
    }
  });
});

describe('redaction', () => {
  it('URLs lose userinfo and query strings in messages', () => {
    expect(redactUrl('https://admin:hunter2@prom.example.com:9090/prefix?token=abc#x')).toBe('https://prom.example.com:9090/prefix?…');
    expect(redactUrl('http://prometheus:9090')).toBe('http://prometheus:9090');
    expect(secretShapedUrl('https://a.example.com/x?api_key=1')).toBe('carries a token-like query parameter (api_key)');
    expect(secretShapedUrl('https://a.example.com/x?page=1')).toBeUndefined();
  });

  it('a Prometheus error names the server without its userinfo or query string', async () => {
    const provider = new PrometheusProvider({ address: 'http://admin:hunter2@127.0.0.1:9/?token=s3cr3t', timeout: 500 });
    const error = await provider.isOnline().then(
      () => new Error('resolved'),
      (e: unknown) => e as Error,
    );
    expect(error.message).toMatch(/^Prometheus at http:\/\/127\.0\.0\.1:9\?… is unreachable/);
    expect(error.message).not.toContain('hunter2');
    expect(error.message).not.toContain('s3cr3t');
  });

  it('a web metric error names the URL without its query string', async () => {
    const provider = new WebProvider({ url: 'http://127.0.0.1:9/v?api_key=s3cr3t', jsonPath: '$.v', timeout: 500 });
    const error = await provider.isOnline().then(
      () => new Error('resolved'),
      (e: unknown) => e as Error,
    );
    expect(error.message).toContain('web metric http://127.0.0.1:9/v?… is unreachable');
    expect(error.message).not.toContain('s3cr3t');
  });

  it('a Prometheus bearer token by reference that cannot be resolved fails the request naming the field, not as a transient error', async () => {
    const restore = useSecretResolver(defaultSecretResolver({ env: {} }));
    try {
      const provider = new PrometheusProvider({ address: 'http://127.0.0.1:9', bearerToken: { secretRef: { env: 'PROM_TOKEN' } } });
      const error = await provider.isOnline().then(
        () => new Error('resolved'),
        (e: unknown) => e as Error,
      );
      expect(error.name).toBe('SecretResolutionError');
      expect(error.message).toBe('Prometheus bearerToken: environment variable PROM_TOKEN is not set');
    } finally {
      restore();
    }
  });
});
