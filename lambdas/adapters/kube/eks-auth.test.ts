import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { eksTokenCommand } from '../../../local/commands/eks-token.ts';
import { ERROR_NAMES } from '../../core/errors.ts';
import { clearEksAuthCache, eksKubeConfig, eksToken, execCredential, kubeConfigFor } from './eks-auth.ts';
import type { EksToken } from './eks-auth.ts';

const run = promisify(execFile);

// Debian's awscli (v2, regional STS endpoints) is the reference, not whatever `aws` comes first on PATH.
const AWS = '/usr/bin/aws';
const FAKETIME = '/usr/bin/faketime';
const FIXED = '2026-01-02 03:04:05';
const FIXED_DATE = new Date('2026-01-02T03:04:05Z');

const KEYS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
// A session token with the characters that need percent-encoding (`/`, `+`, `=`).
const SESSION_TOKEN = 'IQoJb3JpZ2luX2VjEJr//////////wEaCWV1LXdlc3QtMSJGMEQCIH+abc/def==';

// Stubs EKSClient.prototype.send: no request leaves the machine.
const eks = mockClient(EKSClient);
beforeEach(() => {
  eks.reset();
  clearEksAuthCache();
});

let dir: string;
let emptyFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-eks-auth-'));
  emptyFile = join(dir, 'empty');
  await writeFile(emptyFile, '');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Fixed credentials for our side, through the default provider chain (env first); nothing else leaks in. */
function stubAwsEnv(sessionToken: string | undefined): void {
  vi.stubEnv('AWS_ACCESS_KEY_ID', KEYS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', KEYS.secretAccessKey);
  vi.stubEnv('AWS_SESSION_TOKEN', sessionToken);
  vi.stubEnv('AWS_CONFIG_FILE', emptyFile);
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', emptyFile);
  vi.stubEnv('AWS_PROFILE', undefined);
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
}
afterEach(() => {
  vi.unstubAllEnvs();
});

/** `aws eks get-token` under a frozen clock (`faketime -f`: the clock does not tick, so both timestamps are FIXED). */
async function awsGetToken(args: { cluster: string; region: string; sessionToken?: string; execInfo?: string }): Promise<string> {
  for (const [binary, pkg] of [
    [AWS, 'awscli'],
    [FAKETIME, 'faketime'],
  ] as const) {
    if (!existsSync(binary))
      throw new Error(`${binary} is missing: install Debian's ${pkg} (apt-get install ${pkg}); this test compares against it`);
  }
  const env: Record<string, string> = {
    PATH: '/usr/bin:/bin',
    HOME: dir,
    TZ: 'UTC',
    AWS_ACCESS_KEY_ID: KEYS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
    AWS_CONFIG_FILE: emptyFile,
    AWS_SHARED_CREDENTIALS_FILE: emptyFile,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  if (args.sessionToken) env.AWS_SESSION_TOKEN = args.sessionToken;
  if (args.execInfo) env.KUBERNETES_EXEC_INFO = args.execInfo;
  const { stdout } = await run(FAKETIME, ['-f', FIXED, AWS, 'eks', 'get-token', '--cluster-name', args.cluster, '--region', args.region], {
    env,
    timeout: 60_000,
  });
  return stdout;
}

function decode(token: string): URL {
  expect(token.startsWith('k8s-aws-v1.')).toBe(true);
  const body = token.slice('k8s-aws-v1.'.length);
  expect(body).toMatch(/^[A-Za-z0-9_-]+$/); // base64url, no padding
  return new URL(Buffer.from(body, 'base64url').toString('utf8'));
}

describe('eksToken matches `aws eks get-token` byte for byte', () => {
  const cases = [
    { name: 'eu-west-1 with a session token', cluster: 'demo', region: 'eu-west-1', sessionToken: SESSION_TOKEN },
    { name: 'eu-west-1 with long-term keys', cluster: 'demo', region: 'eu-west-1', sessionToken: undefined },
    { name: 'us-east-1, another cluster name', cluster: 'prod-eks_2', region: 'us-east-1', sessionToken: SESSION_TOKEN },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      // Prepare
      stubAwsEnv(c.sessionToken);
      const reference = await awsGetToken(c);
      // Act
      const ours = await eksToken({ cluster: c.cluster, region: c.region, now: FIXED_DATE });
      // Assess
      const parsed = JSON.parse(reference) as { status: { token: string; expirationTimestamp: string } };
      expect(ours.token).toBe(parsed.status.token);
      expect(execCredential(ours.token, ours.expiresAt)).toBe(reference);
      expect(parsed.status.expirationTimestamp).toBe('2026-01-02T03:18:05Z');
    });
  }

  it('sluice eks-token prints what aws eks get-token prints, in the apiVersion kubectl asks for', async () => {
    // Prepare
    stubAwsEnv(SESSION_TOKEN);
    const execInfo = JSON.stringify({
      kind: 'ExecCredential',
      apiVersion: 'client.authentication.k8s.io/v1',
      spec: { interactive: false },
    });
    const reference = await awsGetToken({ cluster: 'demo', region: 'eu-west-1', sessionToken: SESSION_TOKEN, execInfo });
    let stdout = '';
    // Act
    const code = await eksTokenCommand(
      { cluster: 'demo' },
      {
        stdout: (s) => (stdout += s),
        stderr: () => {},
        env: { AWS_REGION: 'eu-west-1', KUBERNETES_EXEC_INFO: execInfo },
        now: () => FIXED_DATE,
      },
    );
    // Assess
    expect(code).toBe(0);
    expect(stdout).toBe(reference);
    expect(stdout).toContain('"apiVersion": "client.authentication.k8s.io/v1"');
  });
});

describe('the token', () => {
  it('is a presigned regional STS GetCallerIdentity URL bound to the cluster', async () => {
    // Act
    const { token, expiresAt } = await eksToken({
      cluster: 'prod',
      region: 'ap-southeast-2',
      credentials: { ...KEYS, sessionToken: SESSION_TOKEN },
      now: FIXED_DATE,
    });
    // Assess
    const url = decode(token);
    expect(url.origin).toBe('https://sts.ap-southeast-2.amazonaws.com');
    expect(url.searchParams.get('Action')).toBe('GetCallerIdentity');
    expect(url.searchParams.get('Version')).toBe('2011-06-15');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(url.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toContain('x-k8s-aws-id');
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe(SESSION_TOKEN);
    expect(url.searchParams.get('X-Amz-Credential')).toBe(`${KEYS.accessKeyId}/20260102/ap-southeast-2/sts/aws4_request`);
    expect(expiresAt.toISOString()).toBe('2026-01-02T03:18:05.000Z');
  });

  it('differs per cluster: the signature covers x-k8s-aws-id', async () => {
    const args = { region: 'eu-west-1', credentials: KEYS, now: FIXED_DATE };
    const a = decode((await eksToken({ ...args, cluster: 'a' })).token);
    const b = decode((await eksToken({ ...args, cluster: 'b' })).token);
    expect(a.searchParams.get('X-Amz-Signature')).not.toBe(b.searchParams.get('X-Amz-Signature'));
  });
});

describe('sluice eks-token usage', () => {
  it('refuses with exit 2 and says how when no region is known', async () => {
    let stdout = '';
    let stderr = '';
    const code = await eksTokenCommand({ cluster: 'demo' }, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env: {} });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/--region.*AWS_REGION/);
  });

  it('takes the region from AWS_DEFAULT_REGION when no flag or AWS_REGION is given', async () => {
    let stdout = '';
    const code = await eksTokenCommand(
      { cluster: 'demo' },
      { stdout: (s) => (stdout += s), env: { AWS_DEFAULT_REGION: 'eu-central-1' }, credentials: KEYS },
    );
    expect(code).toBe(0);
    const credential = JSON.parse(stdout) as { apiVersion: string; status: { token: string } };
    expect(credential.apiVersion).toBe('client.authentication.k8s.io/v1beta1');
    expect(decode(credential.status.token).host).toBe('sts.eu-central-1.amazonaws.com');
  });
});

const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfakeclusterca\n-----END CERTIFICATE-----\n';
const ENDPOINT = 'https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com';

describe('eksKubeConfig', () => {
  function fakeTokens(clock: { now: Date }) {
    let issued = 0;
    const provider = vi.fn(
      async (): Promise<EksToken> => ({ token: `token-${++issued}`, expiresAt: new Date(clock.now.getTime() + 14 * 60_000) }),
    );
    return provider;
  }

  /** What the Kubernetes client would send: the Authorization header and the CA it trusts. */
  async function bearerOf(kc: Awaited<ReturnType<typeof eksKubeConfig>>): Promise<{ authorization: unknown; ca: string }> {
    const opts: RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const headers = (opts.headers ?? {}) as Record<string, unknown>;
    return { authorization: headers.Authorization, ca: String(opts.ca) };
  }

  it('describes the cluster once per warm Lambda and connects with its endpoint, CA and the token', async () => {
    // Prepare
    eks
      .on(DescribeClusterCommand)
      .resolves({ cluster: { endpoint: ENDPOINT, certificateAuthority: { data: Buffer.from(CA_PEM).toString('base64') } } });
    const clock = { now: FIXED_DATE };
    const tokenProvider = fakeTokens(clock);
    const eksClient = new EKSClient({ region: 'eu-west-1' });
    // Act
    const first = await eksKubeConfig({ cluster: 'prod', region: 'eu-west-1', eksClient, tokenProvider, now: () => clock.now });
    const second = await eksKubeConfig({ cluster: 'prod', region: 'eu-west-1', eksClient, tokenProvider, now: () => clock.now });
    // Assess
    const calls = eks.commandCalls(DescribeClusterCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({ name: 'prod' });
    expect(tokenProvider).toHaveBeenCalledTimes(1);
    expect(tokenProvider).toHaveBeenCalledWith({ cluster: 'prod', region: 'eu-west-1' });
    for (const kc of [first, second]) {
      expect(kc.getCurrentCluster()?.server).toBe(ENDPOINT);
      const sent = await bearerOf(kc);
      expect(sent.authorization).toBe('Bearer token-1');
      expect(sent.ca).toBe(CA_PEM);
    }
  });

  it('replaces the token once it is 10 minutes old, without describing the cluster again', async () => {
    // Prepare
    eks
      .on(DescribeClusterCommand)
      .resolves({ cluster: { endpoint: ENDPOINT, certificateAuthority: { data: Buffer.from(CA_PEM).toString('base64') } } });
    const clock = { now: FIXED_DATE };
    const tokenProvider = fakeTokens(clock);
    const options = {
      cluster: 'prod',
      region: 'eu-west-1',
      eksClient: new EKSClient({ region: 'eu-west-1' }),
      tokenProvider,
      now: () => clock.now,
    };
    await eksKubeConfig(options);
    // Act
    clock.now = new Date(FIXED_DATE.getTime() + 9 * 60_000);
    const at9 = await bearerOf(await eksKubeConfig(options));
    clock.now = new Date(FIXED_DATE.getTime() + 10 * 60_000 + 1_000);
    const at10 = await bearerOf(await eksKubeConfig(options));
    // Assess
    expect(at9.authorization).toBe('Bearer token-1');
    expect(at10.authorization).toBe('Bearer token-2');
    expect(eks.commandCalls(DescribeClusterCommand)).toHaveLength(1);
  });

  it('signs with the Lambda credentials by default', async () => {
    // Prepare
    stubAwsEnv(SESSION_TOKEN);
    eks
      .on(DescribeClusterCommand)
      .resolves({ cluster: { endpoint: ENDPOINT, certificateAuthority: { data: Buffer.from(CA_PEM).toString('base64') } } });
    // Act
    const kc = await eksKubeConfig({ cluster: 'prod', region: 'eu-west-1', eksClient: new EKSClient({ region: 'eu-west-1' }) });
    // Assess
    const url = decode(kc.getCurrentUser()?.token ?? '');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^AKIAIOSFODNN7EXAMPLE\//);
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe(SESSION_TOKEN);
  });

  it('names the cluster when DescribeCluster fails, and asks again on the next call', async () => {
    // Prepare
    const notFound = Object.assign(new Error('No cluster found for name: prod.'), { name: 'ResourceNotFoundException', $fault: 'client' });
    eks
      .on(DescribeClusterCommand)
      .rejectsOnce(notFound)
      .resolves({ cluster: { endpoint: ENDPOINT, certificateAuthority: { data: Buffer.from(CA_PEM).toString('base64') } } });
    const options = {
      cluster: 'prod',
      region: 'eu-west-1',
      eksClient: new EKSClient({ region: 'eu-west-1' }),
      tokenProvider: fakeTokens({ now: FIXED_DATE }),
    };
    // Act + Assess
    const failure = await eksKubeConfig(options).catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: ERROR_NAMES.refused, message: 'EKS DescribeCluster prod (eu-west-1) failed', cause: notFound });
    const kc = await eksKubeConfig(options);
    expect(kc.getCurrentCluster()?.server).toBe(ENDPOINT);
    expect(eks.commandCalls(DescribeClusterCommand)).toHaveLength(2);
  });

  it('treats an EKS server error as transient', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ServiceUnavailableException', $fault: 'server' });
    eks.on(DescribeClusterCommand).rejects(throttled);
    const failure = await eksKubeConfig({
      cluster: 'prod',
      region: 'eu-west-1',
      eksClient: new EKSClient({ region: 'eu-west-1' }),
      tokenProvider: fakeTokens({ now: FIXED_DATE }),
    }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: ERROR_NAMES.transient });
  });
});

describe('kubeConfigFor', () => {
  const kubeconfig = `apiVersion: v1
kind: Config
clusters:
  - name: kind-a
    cluster: { server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true }
  - name: kind-b
    cluster: { server: "https://127.0.0.1:7443", insecure-skip-tls-verify: true }
users:
  - name: dev
    user: { token: dev-token }
contexts:
  - name: kind-a
    context: { cluster: kind-a, user: dev }
  - name: kind-b
    context: { cluster: kind-b, user: dev }
current-context: kind-a
`;

  it('selects the named context of the kubeconfig that KUBECONFIG points at', async () => {
    // Prepare
    const file = join(dir, 'kubeconfig');
    await writeFile(file, kubeconfig);
    vi.stubEnv('KUBECONFIG', file);
    // Act
    const kc = await kubeConfigFor({ kubeconfigContext: 'kind-b' });
    // Assess
    expect(kc.getCurrentContext()).toBe('kind-b');
    expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.1:7443');
  });

  it('refuses a context the kubeconfig does not have, listing the ones it has', async () => {
    const file = join(dir, 'kubeconfig-missing');
    await writeFile(file, kubeconfig);
    vi.stubEnv('KUBECONFIG', file);
    await expect(kubeConfigFor({ kubeconfigContext: 'prod' })).rejects.toMatchObject({
      name: ERROR_NAMES.refused,
      message: expect.stringMatching(/context "prod" not found .*kind-a, kind-b/),
    });
  });

  it('goes to EKS for a cluster named by name and region', async () => {
    eks
      .on(DescribeClusterCommand, { name: 'prod-eks' })
      .resolves({ cluster: { endpoint: ENDPOINT, certificateAuthority: { data: Buffer.from(CA_PEM).toString('base64') } } });
    const kc = await kubeConfigFor(
      { name: 'prod-eks', region: 'us-east-1' },
      {
        eksClient: new EKSClient({ region: 'us-east-1' }),
        tokenProvider: async () => ({ token: 't', expiresAt: new Date(Date.now() + 14 * 60_000) }),
      },
    );
    expect(kc.getCurrentCluster()?.server).toBe(ENDPOINT);
    expect(kc.getCurrentUser()?.token).toBe('t');
  });
});
