/**
 * Bearer tokens with RBAC-like rules, so a test can give Sluice exactly the permissions of
 * infra/k8s/rbac.yaml and watch the stand-in refuse everything else with 403 like a cluster.
 */
import { parseAllDocuments } from 'yaml';

export interface PolicyRule {
  verbs: string[];
  apiGroups: string[];
  /** Plurals, or `<plural>/<subresource>` such as `deployments/scale`. */
  resources: string[];
  resourceNames?: string[];
  /** Namespaces the rule applies in (a Role's namespace); absent = all (a ClusterRole bound cluster-wide). */
  namespaces?: string[];
}

export interface RequestAttributes {
  verb: string;
  group: string;
  /** Plural, or `<plural>/<subresource>`. */
  resource: string;
  namespace?: string | undefined;
  name?: string | undefined;
}

function has(list: readonly string[] | undefined, value: string): boolean {
  return list !== undefined && (list.includes('*') || list.includes(value));
}

export function ruleAllows(rule: PolicyRule, request: RequestAttributes): boolean {
  if (!has(rule.verbs, request.verb) || !has(rule.apiGroups, request.group) || !has(rule.resources, request.resource)) return false;
  if (rule.namespaces && (request.namespace === undefined || !rule.namespaces.includes(request.namespace))) return false;
  // As in Kubernetes RBAC: a rule with resourceNames never matches a request without a name
  // (create, or list/watch without a metadata.name field selector).
  if (rule.resourceNames && rule.resourceNames.length > 0) return request.name !== undefined && rule.resourceNames.includes(request.name);
  return true;
}

export function isAllowed(rules: readonly PolicyRule[], request: RequestAttributes): boolean {
  return rules.some((rule) => ruleAllows(rule, request));
}

/** The real server's wording, so error messages read the same in tests and on a cluster. */
export function forbiddenMessage(user: string, request: RequestAttributes): string {
  const [plural = request.resource, sub] = request.resource.split('/');
  const object = `${plural}${request.group ? `.${request.group}` : ''}${request.name ? ` "${request.name}"` : ''}`;
  const resource = sub ? `resource "${plural}/${sub}"` : `resource "${plural}"`;
  const where = request.namespace ? ` in the namespace "${request.namespace}"` : ' at the cluster scope';
  return `${object} is forbidden: User "${user}" cannot ${request.verb} ${resource} in API group "${request.group}"${where}`;
}

interface RbacRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}
interface RbacDoc {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  rules?: RbacRule[];
  roleRef?: { kind?: string; name?: string };
  subjects?: Array<{ kind?: string; name?: string }>;
}

/**
 * The PolicyRules a Kubernetes group gets from RBAC manifests (Role, ClusterRole, RoleBinding,
 * ClusterRoleBinding in one multi-document YAML): a RoleBinding scopes its role's rules to
 * the binding's namespace; a ClusterRoleBinding grants a ClusterRole everywhere.
 */
export function policyRulesForGroup(manifests: string, group: string): PolicyRule[] {
  const docs = parseAllDocuments(manifests)
    .map((doc) => doc.toJS() as RbacDoc | null)
    .filter((doc): doc is RbacDoc => doc !== null);
  const roles = new Map<string, RbacRule[]>();
  for (const doc of docs) {
    if (doc.kind === 'Role') roles.set(`Role/${doc.metadata?.namespace ?? ''}/${doc.metadata?.name ?? ''}`, doc.rules ?? []);
    if (doc.kind === 'ClusterRole') roles.set(`ClusterRole//${doc.metadata?.name ?? ''}`, doc.rules ?? []);
  }
  const out: PolicyRule[] = [];
  for (const doc of docs) {
    if (doc.kind !== 'RoleBinding' && doc.kind !== 'ClusterRoleBinding') continue;
    if (!doc.subjects?.some((s) => s.kind === 'Group' && s.name === group)) continue;
    const bindingNamespace = doc.kind === 'RoleBinding' ? doc.metadata?.namespace : undefined;
    const roleKey =
      doc.roleRef?.kind === 'Role' ? `Role/${bindingNamespace ?? ''}/${doc.roleRef.name ?? ''}` : `ClusterRole//${doc.roleRef?.name ?? ''}`;
    const rules = roles.get(roleKey);
    if (!rules) throw new Error(`${doc.kind} ${doc.metadata?.name ?? '?'} refers to ${roleKey}, which the manifests do not define`);
    for (const rule of rules) {
      out.push({
        verbs: rule.verbs ?? [],
        apiGroups: rule.apiGroups ?? [],
        resources: rule.resources ?? [],
        ...(rule.resourceNames ? { resourceNames: rule.resourceNames } : {}),
        ...(bindingNamespace ? { namespaces: [bindingNamespace] } : {}),
      });
    }
  }
  return out;
}
