/**
 * Grants for secrets by reference: each Lambda role that resolves a
 * secret may read exactly the secrets the registry's targets reference (their complete ARNs; the
 * registry refuses anything else), and kms:Decrypt on a named customer-managed key when one is
 * given, only through Secrets Manager. Which role resolves what:
 * - Prepare and Analyze (the analysis role): metric credentials (Prometheus bearerToken /
 *   basicAuth.password, web provider headers) and analysis webhooks;
 * - the other handlers that call analysis webhooks (SetWeight, the webhook gate, Rollback, the safety net, Finish);
 * - the Slack worker: notification webhooks (it sends them).
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { secretRefs } from '../lambdas/core/secrets.ts';
import type { RegistryEntry } from './registry.ts';

export interface SecretReaders {
  /** Resolves metric credentials and analysis webhooks. */
  analysis: iam.IRole;
  /** Resolve analysis webhooks only. */
  hookCallers: iam.IRole[];
  /** Resolves notification webhooks (the Slack worker), when there is one. */
  notifier?: iam.IRole | undefined;
}

function arnsWhere(entries: ReadonlyArray<RegistryEntry>, keep: (path: string) => boolean): string[] {
  const arns = new Set<string>();
  for (const { spec } of entries) {
    for (const { path, ref } of secretRefs(spec))
      if (keep(path) && 'secretsManager' in ref.secretRef) arns.add(ref.secretRef.secretsManager);
  }
  return [...arns].sort();
}

export function grantSecretReads(
  scope: Construct,
  entries: ReadonlyArray<RegistryEntry>,
  readers: SecretReaders,
  kmsKeyArn?: string,
): void {
  const metric = arnsWhere(entries, (p) => p.startsWith('spec.analysis.prometheus') || p.startsWith('spec.analysis.metrics'));
  const hooks = arnsWhere(entries, (p) => p.startsWith('spec.analysis.webhooks'));
  const notifications = arnsWhere(entries, (p) => p.startsWith('spec.notifications'));
  const grant = (role: iam.IRole, arns: string[]) => {
    if (!arns.length) return;
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: arns }));
    if (kmsKeyArn) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [kmsKeyArn],
          // Only when Secrets Manager decrypts on the role's behalf, not for direct Decrypt calls.
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(scope).region}.amazonaws.com` } },
        }),
      );
    }
  };
  grant(readers.analysis, [...new Set([...metric, ...hooks])].sort());
  for (const role of new Set(readers.hookCallers)) grant(role, hooks);
  if (readers.notifier) grant(readers.notifier, notifications);
}
