/**
 * Fault injection (the knobs that break the stand-in on purpose: status codes, dropped
 * connections, delays, throttling, admission denials) and the audit log of writers.
 */
import type { ServerResponse } from 'node:http';
import type { ApiVerb, ResourceRequest } from './http.ts';
import { send } from './http.ts';
import { failureStatus, reasonForCode } from './status.ts';

/** The API verb a fault matches: the verbs the HTTP layer resolves a request to. */
export type FaultVerb = ApiVerb;

export interface FaultRule {
  verb?: FaultVerb;
  /** Plural, e.g. 'upstreamgroups', 'deployments', or with a subresource: 'deployments/scale'. */
  resource?: string;
  name?: string;
  /** Answer with this status code and a Status body (e.g. 503). */
  status?: number;
  /** Wait this long before answering (or before the other effects). */
  delayMs?: number;
  /** Destroy the connection without an answer. */
  drop?: boolean;
  /** How many matching requests the fault hits; default: all of them. */
  times?: number;
  /**
   * With `status: 429`: the `Retry-After` header (seconds) the API server's priority-and-fairness
   * filter sends with a throttled request (Kubernetes docs, "API Priority and Fairness": a rejected
   * request gets HTTP 429 Too Many Requests with a Retry-After header).
   */
  retryAfterSeconds?: number;
  /**
   * Refuse the write the way Gloo's validating admission webhook does on a strict-validation
   * install: 403 with `admission webhook "gloo.gloo-system.svc" denied the request: <reason>` and
   * an empty reason field (k8s.io/apiserver webhook/errors/statuserror.go; kgateway-dev/kgateway#6932).
   */
  admissionDenial?: string;
}

/** One mutating request the server carried out (or refused), in arrival order: who wrote what. */
export interface AuditEntry {
  at: number;
  /** The user the bearer token belongs to (`admin`, or the name given to addToken). */
  user: string;
  verb: FaultVerb;
  /** Plural, with `/<subresource>` when there is one. */
  resource: string;
  namespace: string | undefined;
  name: string | undefined;
  /** The HTTP status code answered. */
  code: number;
  /** The annotations of the object the write stored (absent when nothing was stored): who the writer said it was. */
  annotations?: Record<string, string>;
}

type LiveFault = FaultRule & { left: number };

/** The active faults, first match wins; each counts down its `times`. */
export class FaultBook {
  readonly #faults: LiveFault[] = [];

  /** Adds a fault; the returned function heals that one fault. */
  add(rule: FaultRule): () => void {
    const entry: LiveFault = { ...rule, left: rule.times ?? Number.POSITIVE_INFINITY };
    this.#faults.push(entry);
    return () => {
      const index = this.#faults.indexOf(entry);
      if (index >= 0) this.#faults.splice(index, 1);
    };
  }

  clear(): void {
    this.#faults.length = 0;
  }

  match(request: ResourceRequest | undefined, method: string): FaultRule | undefined {
    const verb = request?.verb ?? (method === 'GET' ? 'get' : undefined);
    const resource = request ? (request.subresource ? `${request.type.plural}/${request.subresource}` : request.type.plural) : undefined;
    const rule = this.#faults.find(
      (f) =>
        f.left > 0 &&
        (f.verb === undefined || f.verb === verb) &&
        (f.resource === undefined || f.resource === resource) &&
        (f.name === undefined || f.name === request?.name),
    );
    if (rule) rule.left -= 1;
    return rule;
  }
}

/** Answers a request for a fault that answers (status, admission denial); false when the fault only delays. */
export function answerFault(
  res: ServerResponse,
  fault: FaultRule,
  request: ResourceRequest | undefined,
  method: string,
  path: string,
): boolean {
  if (fault.admissionDenial !== undefined) {
    const body = failureStatus(403, '', `admission webhook "gloo.gloo-system.svc" denied the request: ${fault.admissionDenial}`, {
      ...(request?.name ? { name: request.name } : {}),
      group: request?.type.group ?? '',
      kind: request?.type.kind ?? '',
    });
    send(res, 403, body);
    return true;
  }
  if (fault.status) {
    const body = failureStatus(fault.status, reasonForCode(fault.status), `injected fault: ${fault.status} for ${method} ${path}`);
    if (fault.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(fault.retryAfterSeconds));
    send(res, fault.status, body);
    return true;
  }
  return false;
}
