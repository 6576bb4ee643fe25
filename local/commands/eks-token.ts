/**
 * `sluice eks-token --cluster NAME [--region R]`: an EKS bearer token as the ExecCredential that
 * `aws eks get-token` prints, so a kubeconfig can use Sluice as its exec plugin where no awscli
 * is installed. Like awscli, the ExecCredential's apiVersion follows KUBERNETES_EXEC_INFO (kubectl
 * rejects an answer in another version than the kubeconfig asked for).
 */
import { EXEC_CREDENTIAL_API_VERSIONS, eksToken, execCredential } from '../../lambdas/adapters/kube/eks-auth.ts';
import type { EksCredentials, ExecCredentialApiVersion } from '../../lambdas/adapters/kube/eks-auth.ts';
import { describeError } from '../../lambdas/core/errors.ts';

export interface EksTokenArgs {
  cluster: string;
  region?: string | undefined;
}

export interface EksTokenIo {
  stdout: (s: string) => void;
  /** Default: process.stderr. */
  stderr?: (s: string) => void;
  /** Default: process.env (AWS_REGION, AWS_DEFAULT_REGION, KUBERNETES_EXEC_INFO). */
  env?: Record<string, string | undefined>;
  /** Signing instant; default: now. */
  now?: () => Date;
  /** Default: the Node provider chain. */
  credentials?: EksCredentials;
}

const FALLBACK_API_VERSION: ExecCredentialApiVersion = 'client.authentication.k8s.io/v1beta1';

/** awscli's discover_api_version: the version kubectl asked for, else v1beta1 with a note on stderr. */
function apiVersionFrom(execInfo: string | undefined, warn: (s: string) => void): ExecCredentialApiVersion {
  if (!execInfo) return FALLBACK_API_VERSION;
  let parsed: unknown;
  try {
    parsed = JSON.parse(execInfo);
  } catch {
    warn(
      `Error parsing KUBERNETES_EXEC_INFO, defaulting to ${FALLBACK_API_VERSION}. This is likely a bug in your Kubernetes client. Please update your Kubernetes client.\n`,
    );
    return FALLBACK_API_VERSION;
  }
  const asked = typeof parsed === 'object' && parsed !== null ? (parsed as { apiVersion?: unknown }).apiVersion : undefined;
  const known = EXEC_CREDENTIAL_API_VERSIONS.find((v) => v === asked);
  if (known === 'client.authentication.k8s.io/v1alpha1') {
    warn(`Kubeconfig user entry is using deprecated API version ${known}. Run 'aws eks update-kubeconfig' to update.\n`);
  }
  if (known) return known;
  warn(`Unrecognized API version in KUBERNETES_EXEC_INFO, defaulting to ${FALLBACK_API_VERSION}.\n`);
  return FALLBACK_API_VERSION;
}

/** Exit codes: 0 printed; 2 usage (no cluster, no region); 1 signing failed (e.g. no credentials). */
export async function eksTokenCommand(args: EksTokenArgs, io: EksTokenIo): Promise<number> {
  const stderr = io.stderr ?? ((s: string) => void process.stderr.write(s));
  const env = io.env ?? process.env;
  const cluster = args.cluster.trim();
  if (!cluster) {
    stderr('sluice eks-token: --cluster NAME is required\n');
    return 2;
  }
  const region = args.region || env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) {
    stderr('sluice eks-token: no region: pass --region R or set AWS_REGION (or AWS_DEFAULT_REGION)\n');
    return 2;
  }
  const apiVersion = apiVersionFrom(env.KUBERNETES_EXEC_INFO, stderr);
  try {
    const { token, expiresAt } = await eksToken({
      cluster,
      region,
      ...(io.credentials ? { credentials: io.credentials } : {}),
      ...(io.now ? { now: io.now() } : {}),
    });
    io.stdout(execCredential(token, expiresAt, apiVersion));
    return 0;
  } catch (error) {
    stderr(`sluice eks-token: ${describeError(error)}\n`);
    return 1;
  }
}
