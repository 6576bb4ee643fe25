/**
 * Gloo route delegation: whether a VirtualService (or RouteTable) route hands its traffic to a
 * given RouteTable through `delegateAction`. Pure; used by the RouteTable router's preflight and by
 * the sandbox gateway, which routes the way Gloo does.
 *
 * The rules are Gloo's (gateway.solo.io/v1 CRDs, `routes[].delegateAction`; the gateway
 * translator's route-table selection in solo-io/gloo projects/gateway/pkg/translator):
 * - a reference: the older `{ name, namespace }` on the action wins over `ref { name, namespace }`;
 *   an empty namespace means the owner's;
 * - a selector: `namespaces` empty means the owner's namespace, `'*'` every watched namespace;
 *   `labels` match by equality, `expressions` by Kubernetes label-selector requirements (ANDed);
 *   labels and expressions together select nothing (Gloo reports a warning); neither selects
 *   every table in the namespaces.
 */

export interface RouteTableIdentity {
  name: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

interface SelectorExpression {
  key?: string;
  operator?: string | number;
  values?: string[];
}

interface DelegateAction {
  ref?: { name?: string; namespace?: string };
  name?: string;
  namespace?: string;
  selector?: { labels?: Record<string, string>; expressions?: SelectorExpression[]; namespaces?: string[] };
}

/** Gloo's RouteTableSelector.Expression.Operator enum, in its protobuf order (the CRD takes the name or the number). */
const OPERATORS = ['Equals', 'DoubleEquals', 'NotEquals', 'In', 'NotIn', 'Exists', 'DoesNotExist', 'GreaterThan', 'LessThan'] as const;

function delegateActionOf(route: unknown): DelegateAction | undefined {
  const action = (route as { delegateAction?: unknown } | null)?.delegateAction;
  return action && typeof action === 'object' ? (action as DelegateAction) : undefined;
}

/** One requirement, as k8s.io/apimachinery's labels.Requirement.Matches evaluates it. */
function expressionHolds(expression: SelectorExpression, labels: Readonly<Record<string, string>>): boolean {
  const key = expression.key ?? '';
  const has = Object.hasOwn(labels, key);
  const value = labels[key];
  const values = expression.values ?? [];
  const operator = typeof expression.operator === 'number' ? OPERATORS[expression.operator] : (expression.operator ?? 'Equals');
  switch (operator) {
    case 'Equals':
    case 'DoubleEquals':
    case 'In':
      return has && values.includes(value ?? '');
    case 'NotEquals':
    case 'NotIn':
      return !has || !values.includes(value ?? '');
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'GreaterThan':
    case 'LessThan': {
      const found = Number.parseInt(value ?? '', 10);
      const bound = Number.parseInt(values[0] ?? '', 10);
      if (!has || values.length !== 1 || Number.isNaN(found) || Number.isNaN(bound)) return false;
      return operator === 'GreaterThan' ? found > bound : found < bound;
    }
    default:
      return false;
  }
}

/** Whether `route` (owned by an object in `ownerNamespace`) delegates to the RouteTable `table`. */
export function delegatesTo(route: unknown, ownerNamespace: string, table: RouteTableIdentity): boolean {
  const action = delegateActionOf(route);
  if (!action) return false;
  const direct = action.name || action.namespace ? { name: action.name, namespace: action.namespace } : action.ref;
  if (direct) return direct.name === table.name && (direct.namespace || ownerNamespace) === table.namespace;
  const selector = action.selector;
  if (!selector) return false;
  const namespaces = selector.namespaces ?? [];
  const inNamespace = namespaces.length ? namespaces.some((n) => n === '*' || n === table.namespace) : table.namespace === ownerNamespace;
  if (!inNamespace) return false;
  const labels = Object.entries(selector.labels ?? {});
  const expressions = selector.expressions ?? [];
  if (labels.length && expressions.length) return false;
  return labels.every(([k, v]) => table.labels[k] === v) && expressions.every((e) => expressionHolds(e, table.labels));
}

/** Whether the route hands its traffic to RouteTables (a delegateAction) rather than acting itself. */
export function isDelegating(route: unknown): boolean {
  return delegateActionOf(route) !== undefined;
}
