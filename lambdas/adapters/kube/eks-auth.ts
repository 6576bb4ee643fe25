/**
 * Kubernetes access for Sluice: to EKS from a Lambda (no kubeconfig, no `aws` binary in the
 * runtime), or through a kubeconfig context on a laptop.
 *
 * The EKS bearer token is what `aws eks get-token` prints: a presigned STS GetCallerIdentity URL
 * (regional endpoint) whose signature covers the header `x-k8s-aws-id: <cluster>`, so a token for
 * one cluster cannot be replayed against another; `k8s-aws-v1.` + base64url without padding. The
 * query parameter order, the 60-second `X-Amz-Expires` and the 14-minute expiration in the
 * ExecCredential copy awscli (customizations/eks/get_token.py), and a test compares the two byte
 * for byte under a fixed clock.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import type { DescribeClusterCommandOutput } from '@aws-sdk/client-eks';
import { defaultProvider as fromNodeProviderChain } from '@aws-sdk/credential-provider-node';
import { KubeConfig } from '@kubernetes/client-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { RefusedError, TransientError } from '../../core/errors.ts';
import type { RolloutSpec } from '../../core/spec.ts';

const TOKEN_PREFIX = 'k8s-aws-v1.';
const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** The presigned URL's own lifetime, as awscli signs it; EKS accepts the token for 15 minutes anyway. */
const URL_EXPIRES_SECONDS = 60;
/** awscli: "STS signs the url for 15 minutes so we are creating [an expiration] in 14 minutes". */
const TOKEN_LIFETIME_MS = 14 * 60_000;
/** A cached token older than 10 minutes (less than 4 left) is replaced, so no call uses a dying one. */
const TOKEN_REFRESH_MARGIN_MS = 4 * 60_000;

export const EXEC_CREDENTIAL_API_VERSIONS = [
  'client.authentication.k8s.io/v1',
  'client.authentication.k8s.io/v1beta1',
  'client.authentication.k8s.io/v1alpha1',
] as const;
export type ExecCredentialApiVersion = (typeof EXEC_CREDENTIAL_API_VERSIONS)[number];

/** Static keys or a provider, as SignatureV4 takes them. */
export type EksCredentials = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

export interface EksTokenOptions {
  cluster: string;
  region: string;
  /** Default: the Node provider chain (env, SSO, shared files, web identity, container, IMDS). */
  credentials?: EksCredentials;
  /** The signing instant; default: now. */
  now?: Date;
}

export interface EksToken {
  token: string;
  /** When clients should stop using the token (issue time + 14 minutes, like awscli). */
  expiresAt: Date;
}

/** STS host of a region; the China partition has its own DNS suffix. */
function stsHost(region: string): string {
  return region.startsWith('cn-') ? `sts.${region}.amazonaws.com.cn` : `sts.${region}.amazonaws.com`;
}

/** RFC 3986 encoding as botocore does it (only `-_.~` unescaped), so the URL matches byte for byte. */
function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** botocore's order: the operation's params, then the SigV4 query auth params in this order. */
const QUERY_ORDER = [
  'Action',
  'Version',
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Security-Token',
  'X-Amz-Signature',
] as const;

export async function eksToken(options: EksTokenOptions): Promise<EksToken> {
  const { cluster, region } = options;
  const now = options.now ?? new Date();
  const host = stsHost(region);
  const signer = new SignatureV4({
    service: 'sts',
    region,
    sha256: Sha256,
    credentials: options.credentials ?? fromNodeProviderChain(),
  });
  const request = new HttpRequest({
    method: 'GET',
    protocol: 'https:',
    hostname: host,
    path: '/',
    headers: { host, [CLUSTER_ID_HEADER]: cluster },
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
  });
  let presigned;
  try {
    presigned = await signer.presign(request, { expiresIn: URL_EXPIRES_SECONDS, signingDate: now });
  } catch (error) {
    throw new Error(`EKS token for cluster ${cluster} (${region}): could not sign with AWS credentials`, { cause: error });
  }
  const parts: string[] = [];
  for (const name of QUERY_ORDER) {
    const value = presigned.query?.[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw new Error(`EKS token: unexpected multi-valued query parameter ${name}`);
    parts.push(`${name}=${percentEncode(value)}`);
  }
  const url = `https://${host}/?${parts.join('&')}`;
  const token = TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
  // awscli truncates to whole seconds (strftime), and so does the X-Amz-Date of the URL.
  const issuedAt = Math.floor(now.getTime() / 1000) * 1000;
  return { token, expiresAt: new Date(issuedAt + TOKEN_LIFETIME_MS) };
}

/**
 * The ExecCredential `aws eks get-token` prints: Python's json.dumps spacing and key order,
 * timestamp `YYYY-MM-DDTHH:MM:SSZ`, and a trailing newline.
 */
export function execCredential(
  token: string,
  expiresAt: Date,
  apiVersion: ExecCredentialApiVersion = 'client.authentication.k8s.io/v1beta1',
): string {
  const expirationTimestamp = expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const s = JSON.stringify;
  return `{"kind": "ExecCredential", "apiVersion": ${s(apiVersion)}, "spec": {}, "status": {"expirationTimestamp": ${s(expirationTimestamp)}, "token": ${s(token)}}}\n`;
}

/** The one EKS call Sluice makes; narrow so tests pass a stubbed client. */
export interface EksDescribeClient {
  send(command: DescribeClusterCommand): Promise<DescribeClusterCommandOutput>;
}

export type EksTokenProvider = (args: { cluster: string; region: string }) => Promise<EksToken>;

export interface EksKubeConfigOptions {
  cluster: string;
  region: string;
  eksClient?: EksDescribeClient;
  tokenProvider?: EksTokenProvider;
  /** Clock for the token refresh decision; default: now. */
  now?: () => Date;
}

interface ClusterEndpoint {
  server: string;
  caData: string;
}

interface CacheEntry {
  endpoint?: Promise<ClusterEndpoint>;
  token?: Promise<EksToken>;
}

/** Per warm Lambda: DescribeCluster once per cluster, a token until it nears expiry. */
const cache = new Map<string, CacheEntry>();

/** Forget cached endpoints and tokens (tests; or after the cluster's endpoint changed). */
export function clearEksAuthCache(): void {
  cache.clear();
}

function isTransientAwsError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { $fault?: unknown; name?: unknown; $retryable?: unknown };
  return (
    e.$fault === 'server' ||
    e.$retryable !== undefined ||
    (typeof e.name === 'string' && /Throttl|TooManyRequests|Timeout|ECONNRESET|ECONNREFUSED/i.test(e.name))
  );
}

async function describeCluster(client: EksDescribeClient, cluster: string, region: string): Promise<ClusterEndpoint> {
  let output: DescribeClusterCommandOutput;
  try {
    output = await client.send(new DescribeClusterCommand({ name: cluster }));
  } catch (error) {
    const message = `EKS DescribeCluster ${cluster} (${region}) failed`;
    throw isTransientAwsError(error) ? new TransientError(message, { cause: error }) : new RefusedError(message, { cause: error });
  }
  const server = output.cluster?.endpoint;
  const caData = output.cluster?.certificateAuthority?.data;
  if (!server || !caData) {
    // A cluster still CREATING has neither yet.
    throw new RefusedError(
      `EKS cluster ${cluster} (${region}) has no endpoint or certificate authority yet (status ${output.cluster?.status ?? 'unknown'})`,
    );
  }
  return { server, caData };
}

/** Keep a cached promise unless it failed: a failed lookup is retried on the next call. */
function remember<T>(entry: CacheEntry, key: 'endpoint' | 'token', promise: Promise<T>): Promise<T> {
  promise.catch(() => {
    if (entry[key] === (promise as unknown)) delete entry[key];
  });
  return promise;
}

export async function eksKubeConfig(options: EksKubeConfigOptions): Promise<KubeConfig> {
  const { cluster, region } = options;
  const now = options.now ?? (() => new Date());
  const key = `${region}/${cluster}`;
  let entry = cache.get(key);
  if (!entry) {
    entry = {};
    cache.set(key, entry);
  }
  if (!entry.endpoint) {
    const client = options.eksClient ?? new EKSClient({ region });
    entry.endpoint = remember(entry, 'endpoint', describeCluster(client, cluster, region));
  }
  const pending = entry.token;
  if (pending) {
    const current = await pending.catch(() => undefined);
    // Only the caller that saw this token replaces it; a concurrent caller may have done so already.
    if (entry.token === pending && (!current || current.expiresAt.getTime() - now().getTime() < TOKEN_REFRESH_MARGIN_MS))
      delete entry.token;
  }
  if (!entry.token) {
    const provide = options.tokenProvider ?? ((args: { cluster: string; region: string }) => eksToken({ ...args, now: now() }));
    entry.token = remember(entry, 'token', provide({ cluster, region }));
  }
  const [{ server, caData }, { token }] = await Promise.all([entry.endpoint, entry.token]);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: cluster, server, caData, skipTLSVerify: false }],
    users: [{ name: `sluice@${cluster}`, token }],
    contexts: [{ name: cluster, cluster, user: `sluice@${cluster}` }],
    currentContext: cluster,
  });
  return kc;
}

export type ClusterRef = RolloutSpec['spec']['cluster'];

export interface KubeConfigForDeps {
  eksClient?: EksDescribeClient;
  tokenProvider?: EksTokenProvider;
}

/** The cluster a spec names: EKS by name and region, or a context of the local kubeconfig. */
export async function kubeConfigFor(cluster: ClusterRef, deps: KubeConfigForDeps = {}): Promise<KubeConfig> {
  if ('kubeconfigContext' in cluster) {
    const context = cluster.kubeconfigContext;
    const kc = new KubeConfig();
    try {
      kc.loadFromDefault();
    } catch (error) {
      throw new RefusedError(`kubeconfig could not be read (KUBECONFIG=${process.env.KUBECONFIG ?? '~/.kube/config'})`, { cause: error });
    }
    if (!kc.getContextObject(context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new RefusedError(
        `kubeconfig context "${context}" not found (KUBECONFIG=${process.env.KUBECONFIG ?? '~/.kube/config'}; contexts: ${known.length > 0 ? known.join(', ') : 'none'})`,
      );
    }
    kc.setCurrentContext(context);
    return kc;
  }
  if ('name' in cluster) {
    return eksKubeConfig({ cluster: cluster.name, region: cluster.region, ...deps });
  }
  const unknownCluster: never = cluster;
  throw new RefusedError(`unknown cluster reference ${JSON.stringify(unknownCluster)}`);
}
