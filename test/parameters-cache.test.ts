/**
 * The registry and the Slack bot read SSM and Secrets Manager through Powertools Parameters
 * (getParameter / getSecret with maxAge): a warm Lambda asks once per name per max age, a missing
 * parameter is "no such target", a failed read is not cached. The SDK is stubbed at its boundary
 * (aws-sdk-client-mock mocks every SSMClient / SecretsManagerClient, Powertools' own included);
 * Powertools' cache ages by Date (ExpirableValue), so only Date is faked.
 */
import { clearCaches } from '@aws-lambda-powertools/parameters';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { slackSecrets, ssmTargetLoader } from '../lambdas/wiring/aws-slack.ts';
import { ssmRegistry } from '../lambdas/adapters/control/start-path.ts';
import { secretsManagerSecrets } from '../lambdas/adapters/secrets/gitops.ts';
import { webSpec } from './support/flow.ts';

const ssm = mockClient(SSMClient);
const secretsManager = mockClient(SecretsManagerClient);
const spec = webSpec();
const notFound = () => new ParameterNotFound({ message: 'not found', $metadata: {} });

beforeEach(() => {
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-12-07T00:00:00Z'));
});
afterEach(() => {
  ssm.reset();
  secretsManager.reset();
  clearCaches();
  vi.useRealTimers();
  vi.unstubAllEnvs();
});

const requests = () => ssm.commandCalls(GetParameterCommand).map((call) => call.args[0].input);

describe.each([
  ['ssmRegistry (start path)', (target: string) => ssmRegistry({ prefix: '/sluice/S/targets', ecrTargets: {} }).get(target)],
  ['ssmTargetLoader (Slack bot)', (target: string) => ssmTargetLoader('/sluice/S/targets')(target)],
])('%s', (_name, load) => {
  it('reads <prefix>/<target> once per minute and returns the parsed spec', async () => {
    // Prepare
    ssm.on(GetParameterCommand, { Name: '/sluice/S/targets/web' }).resolves({ Parameter: { Value: JSON.stringify(spec) } });
    // Act
    const first = await load('web');
    vi.setSystemTime(new Date('2026-12-07T00:00:59Z'));
    const cached = await load('web');
    vi.setSystemTime(new Date('2026-12-07T00:01:01Z'));
    await load('web');
    // Assess: one request within the minute, a second after it; exactly the parameter asked for.
    expect(first?.metadata.name).toBe('web');
    expect(cached).toEqual(first);
    expect(requests()).toEqual([
      { Name: '/sluice/S/targets/web', WithDecryption: false },
      { Name: '/sluice/S/targets/web', WithDecryption: false },
    ]);
  });

  it('a missing parameter is no such target (null)', async () => {
    ssm.on(GetParameterCommand).rejects(notFound());
    expect(await load('ghost')).toBeNull();
    expect(requests()).toEqual([{ Name: '/sluice/S/targets/ghost', WithDecryption: false }]);
  });

  it('a failed read throws and is not cached: the next call asks again', async () => {
    // Prepare: throttled once, then the value.
    ssm
      .on(GetParameterCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolves({ Parameter: { Value: JSON.stringify(spec) } });
    // Act / Assess
    await expect(load('web')).rejects.toThrow(/Rate exceeded|could not be read/);
    expect((await load('web'))?.metadata.name).toBe('web');
    expect(requests()).toHaveLength(2);
  });
});

describe('slackSecrets', () => {
  it('reads SLACK_SECRET_ARN once per five minutes', async () => {
    // Prepare
    vi.stubEnv('SLACK_SECRET_ARN', 'arn:aws:secretsmanager:us-east-1:1:secret:slack');
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ signingSecret: 's', botToken: 'xoxb-1' }) });
    // Act
    const first = await slackSecrets();
    vi.setSystemTime(new Date('2026-12-07T00:04:59Z'));
    await slackSecrets();
    vi.setSystemTime(new Date('2026-12-07T00:05:01Z'));
    await slackSecrets();
    // Assess
    expect(first).toEqual({ signingSecret: 's', botToken: 'xoxb-1' });
    expect(secretsManager.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input)).toEqual([
      { SecretId: 'arn:aws:secretsmanager:us-east-1:1:secret:slack' },
      { SecretId: 'arn:aws:secretsmanager:us-east-1:1:secret:slack' },
    ]);
  });

  it('a failed read is not cached, and a secret without both fields is refused by name', async () => {
    vi.stubEnv('SLACK_SECRET_ARN', 'arn:aws:secretsmanager:us-east-1:1:secret:slack');
    secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(Object.assign(new Error('AccessDenied'), { name: 'AccessDeniedException' }))
      .resolves({ SecretString: JSON.stringify({ botToken: 'xoxb-1' }) });
    await expect(slackSecrets()).rejects.toThrow(/AccessDenied/);
    await expect(slackSecrets()).rejects.toThrow(
      'secret arn:aws:secretsmanager:us-east-1:1:secret:slack must be JSON with signingSecret and botToken',
    );
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });
});

describe('secretsManagerSecrets (GitOps webhook)', () => {
  it('reads the shared token once per five minutes and serves it to both Flux and Argo CD until separate keys are set', async () => {
    // Prepare
    const arn = 'arn:aws:secretsmanager:us-east-1:1:secret:gitops';
    secretsManager
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: JSON.stringify({ token: 'shared' }) })
      .resolves({ SecretString: JSON.stringify({ token: 'shared', argocd: 'argo-own' }) });
    const secrets = secretsManagerSecrets(arn);
    // Act
    const first = await secrets();
    vi.setSystemTime(new Date('2026-12-07T00:04:59Z'));
    const cached = await secrets();
    vi.setSystemTime(new Date('2026-12-07T00:05:01Z'));
    const rotated = await secrets();
    // Assess
    expect(first).toEqual({ flux: 'shared', argocd: 'shared' });
    expect(cached).toEqual(first);
    expect(rotated).toEqual({ flux: 'shared', argocd: 'argo-own' });
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('refuses a secret that is not JSON, naming it', async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'not json' });
    await expect(secretsManagerSecrets('arn:aws:secretsmanager:us-east-1:1:secret:bad')()).rejects.toThrow(
      'secret arn:aws:secretsmanager:us-east-1:1:secret:bad is not JSON',
    );
  });
});
