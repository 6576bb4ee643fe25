/**
 * Amazon Managed Prometheus: the Prometheus HTTP API of a workspace, each request signed with
 * SigV4 (service `aps`). Parsing, errors and raw-counter snapshots are PrometheusProvider's; this
 * file only supplies the signer, so the two cannot drift apart.
 *
 * The workspace URL is the one the console shows as "Endpoint - query URL" minus its
 * `/api/v1/query` suffix: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-…
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { defaultProvider as fromNodeProviderChain } from '@aws-sdk/credential-provider-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { PrometheusProvider, type RequestSigner } from './prometheus.ts';

/** Static keys or a provider, as SignatureV4 takes them. */
export type AwsCredentials = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

export interface AmpProviderOptions {
  workspaceUrl: string;
  /** Default: from the workspace URL's host (aps-workspaces.<region>.amazonaws.com). */
  region?: string | undefined;
  /** Default: the Node provider chain (env, SSO, shared files, web identity, container, IMDS). */
  credentials?: AwsCredentials;
  timeout?: string | number;
  /** The signing instant; default: now (tests pin it). */
  now?: () => Date;
  /** Evaluation time of instant queries; default: the server's now. */
  time?: () => Date | undefined;
}

/** The region in an AMP workspace URL, or undefined when the host is not AMP's (a VPC endpoint, a proxy). */
export function ampRegion(workspaceUrl: string): string | undefined {
  return /^aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(workspaceUrl).hostname)?.[1];
}

/** Signs a GET with SigV4 for `service` in `region`; the query string is signed as sent. */
export function sigV4Signer(options: { region: string; service: string; credentials?: AwsCredentials; now?: () => Date }): RequestSigner {
  const signer = new SignatureV4({
    service: options.service,
    region: options.region,
    sha256: Sha256,
    credentials: options.credentials ?? fromNodeProviderChain(),
  });
  return async ({ method, url, headers }) => {
    const query: Record<string, string> = {};
    for (const [name, value] of url.searchParams) query[name] = value;
    const request = new HttpRequest({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      headers: { host: url.host },
    });
    let signed;
    try {
      signed = await signer.sign(request, options.now ? { signingDate: options.now() } : {});
    } catch (error) {
      throw new Error(`${options.service} request to ${url.host}: could not sign with AWS credentials (${(error as Error).message})`, {
        cause: error,
      });
    }
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) {
      // host is already in the request headers; everything else the signature added is sent as is.
      if (name.toLowerCase() !== 'host' && !(name in headers)) out[name] = value;
    }
    return out;
  };
}

/** A PrometheusProvider for an AMP workspace. */
export function ampProvider(options: AmpProviderOptions): PrometheusProvider {
  const region = options.region ?? ampRegion(options.workspaceUrl);
  if (!region) throw new Error(`AMP workspace ${options.workspaceUrl}: set region: it cannot be read from the URL's host`);
  const signer = sigV4Signer({
    region,
    service: 'aps',
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  return new PrometheusProvider({
    address: options.workspaceUrl,
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.time ? { time: options.time } : {}),
    signer,
    label: 'Amazon Managed Prometheus',
  });
}
