/** How client-node failures map to the errors the state machine branches on. */
import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { ConflictError, RefusedError, TransientError } from '../../core/errors.ts';
import { assertWritableWeights } from '../router/gloo-weights.ts';
import { kubeError, retryOnConflict } from './client.ts';
import type { ObjectRef } from './client.ts';

const group: ObjectRef = { kind: 'UpstreamGroup', resource: 'upstreamgroups', namespace: 'gloo-system', name: 'podinfo' };
const status = (code: number, message: string) =>
  new ApiException(code, 'Unknown API Status Code!', JSON.stringify({ kind: 'Status', code, message }), {});

describe('kubeError', () => {
  it.each([503, 500, 429])('calls %i transient, naming the object', (code) => {
    const error = kubeError(status(code, 'try later'), 'patch', group);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe(`UpstreamGroup gloo-system/podinfo patch failed: ${code}: try later`);
  });

  it('names the verb, resource and object of a 403, and points at the RBAC', () => {
    const error = kubeError(status(403, 'upstreamgroups.gloo.solo.io "podinfo" is forbidden'), 'patch', group);
    expect(error).not.toBeInstanceOf(TransientError);
    expect(error.message).toMatch(/^forbidden: patch upstreamgroups gloo-system\/podinfo — check the sluice:orchestrator RBAC/);
  });

  it("tells Gloo's validating webhook (strict validation) apart from RBAC and quotes Gloo's reason", () => {
    // The API server's answer to a webhook denial (k8s.io/apiserver webhook/errors/statuserror.go),
    // with the reason Gloo gives (kgateway-dev/kgateway#6932).
    const message =
      'admission webhook "gloo.gloo-system.svc" denied the request: resource incompatible with current Gloo snapshot: [Validating *v1.UpstreamGroup failed: weights]';
    const error = kubeError(status(403, message), 'patch', group);
    expect(error).not.toBeInstanceOf(TransientError);
    expect(error.message).toBe(
      "UpstreamGroup gloo-system/podinfo patch refused by gloo.gloo-system.svc (Gloo's validating admission webhook, strict validation): resource incompatible with current Gloo snapshot: [Validating *v1.UpstreamGroup failed: weights]",
    );
    expect(error.message).not.toMatch(/RBAC/);
  });

  it('makes a 404 a refusal in preflight and an error later', () => {
    expect(kubeError(status(404, 'not found'), 'get', group, { notFound: 'refused', hint: 'spec.router.name' })).toBeInstanceOf(
      RefusedError,
    );
    const later = kubeError(status(404, 'not found'), 'get', group);
    expect(later).not.toBeInstanceOf(RefusedError);
    expect(later.message).toBe('UpstreamGroup gloo-system/podinfo not found');
  });

  it("keeps the server's message of a 422", () => {
    expect(kubeError(status(422, 'spec.destinations: total weight must be at least 1'), 'patch', group).message).toBe(
      'UpstreamGroup gloo-system/podinfo patch failed: 422: spec.destinations: total weight must be at least 1',
    );
  });

  it('calls dropped connections and timeouts transient', () => {
    const reset = new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(kubeError(reset, 'get', group)).toBeInstanceOf(TransientError);
    expect(kubeError(reset, 'get', group).message).toBe('UpstreamGroup gloo-system/podinfo get failed: connection failed (ECONNRESET)');
    expect(kubeError(timeout, 'get', group).message).toBe('UpstreamGroup gloo-system/podinfo get failed: timed out');
  });
});

describe('retryOnConflict', () => {
  it('retries a 409 a bounded number of times, then reports it as transient', async () => {
    let calls = 0;
    const error = await retryOnConflict(
      'UpstreamGroup gloo-system/podinfo patch',
      async () => {
        calls++;
        throw status(409, 'the object has been modified');
      },
      { attempts: 3, baseDelayMs: 1 },
    ).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(error).toBeInstanceOf(TransientError);
  });

  it('lets any other error through at once', async () => {
    let calls = 0;
    const error = await retryOnConflict('x', async () => {
      calls++;
      throw new ConflictError('someone else is steering');
    }).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect(error).toBeInstanceOf(ConflictError);
  });
});

describe('assertWritableWeights', () => {
  it.each([
    [{ primary: 0, canary: 0 }, /all-zero/],
    [{ primary: 50, canary: 40 }, /add up to the weight scale 100/],
    [{ primary: 90.5, canary: 9.5 }, /non-negative integers/],
    [{ primary: 110, canary: -10 }, /non-negative integers/],
  ])('refuses %o', (weights, message) => {
    expect(() => assertWritableWeights(weights, 100, 'UpstreamGroup gloo-system/podinfo')).toThrow(message);
  });
});
