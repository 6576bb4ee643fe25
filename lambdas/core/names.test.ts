import { describe, expect, it } from 'vitest';
import { EXECUTION_NAME_MAX, executionName } from './names.ts';

const ALLOWED = /^[A-Za-z0-9_-]{1,80}$/;

describe('executionName', () => {
  it('joins target and version and keeps allowed characters as they are', () => {
    expect(executionName('podinfo', 'v2_rc-1')).toBe('podinfo-v2_rc-1');
  });

  it('replaces characters Step Functions does not allow with "-"', () => {
    const name = executionName('pod info', '1.2.3+build/7:x');

    expect(name).toBe('pod-info-1-2-3-build-7-x');
    expect(name).toMatch(ALLOWED);
  });

  it('adds an attempt suffix from the second attempt on, so a rolled-back version can be retried', () => {
    const first = executionName('podinfo', '1.2.3', 1);
    const second = executionName('podinfo', '1.2.3', 2);
    const third = executionName('podinfo', '1.2.3', 3);

    expect(first).toBe('podinfo-1-2-3');
    expect(second).toBe('podinfo-1-2-3-a2');
    expect(third).toBe('podinfo-1-2-3-a3');
  });

  it('stays within 80 characters and keeps long versions that differ only at the end apart', () => {
    const target = 'checkout-service';
    const common = `sha256:${'0123456789abcdef'.repeat(5)}`;

    const a = executionName(target, `${common}-aaaa`);
    const b = executionName(target, `${common}-bbbb`);

    expect(a).toHaveLength(EXECUTION_NAME_MAX);
    expect(b).toHaveLength(EXECUTION_NAME_MAX);
    expect(a).toMatch(ALLOWED);
    expect(a).not.toBe(b);
    expect(a.slice(0, 60)).toBe(b.slice(0, 60));
  });

  it('keeps versions apart under truncation even when they sanitize to the same text', () => {
    const long = 'x'.repeat(90);

    expect(executionName('t', `${long}.1`)).not.toBe(executionName('t', `${long}-1`));
  });

  it('is stable: the same inputs give the same name', () => {
    const version = 'v'.repeat(100);

    expect(executionName('podinfo', version, 4)).toBe(executionName('podinfo', version, 4));
  });

  it('keeps the attempt suffix when truncating, so retries of a long version stay distinct', () => {
    const version = 'release-'.repeat(12);

    const first = executionName('podinfo', version, 1);
    const retry = executionName('podinfo', version, 12);

    expect(first).toHaveLength(EXECUTION_NAME_MAX);
    expect(retry).toHaveLength(EXECUTION_NAME_MAX);
    expect(retry.endsWith('-a12')).toBe(true);
    expect(retry.slice(-13, -4)).toBe(first.slice(-9));
  });

  it('refuses an attempt below 1 and empty parts', () => {
    expect(() => executionName('podinfo', '1', 0)).toThrow(/attempt/);
    expect(() => executionName('podinfo', '')).toThrow(/version/);
  });
});
