/**
 * The `sluice demo` end-to-end files' shared pieces: the in-process demo runner with the threshold
 * judge on 3-second steps, and what the gateway applied. The demo scenarios are split over
 * test/demo*.e2e.test.ts so that the two CI workers share them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { runDemo } from '../../local/commands/demo.ts';
import type { DemoOptions, DemoSummary } from '../../local/commands/demo.ts';
import type { Sandbox } from '../../local/sandbox/sandbox.ts';
import { SANDBOX_NAMES } from '../../local/sandbox/sandbox.ts';
import { SHORT_WAITS } from './flow.ts';

// These cases are about the threshold judge's semantics (the demo's default is the sequential judge).
// The promotion's readiness loops check every 100 ms instead of every 10 s: the wait is the ASL's
// Wait state (flow-promotion.test.ts covers it), not what these scenarios show.
const BASE: Omit<DemoOptions, 'scenario'> = {
  rps: 60,
  interval: 3,
  seed: 11,
  prometheus: 'required',
  judge: 'threshold',
  waitTimeOverrides: SHORT_WAITS,
};

export interface DemoRun {
  code: number;
  summary: DemoSummary;
  output: string;
}

/** A demo runner whose state folders live in one temp dir, removed after the file. Call at the top level of a test file. */
export function demoRunner(
  name: string,
): (options: Partial<DemoOptions> & Pick<DemoOptions, 'scenario'>, onSandbox?: (sandbox: Sandbox) => void) => Promise<DemoRun> {
  const dir = mkdtempSync(join(tmpdir(), `sluice-${name}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let runs = 0;
  return async (options, onSandbox) => {
    const out: string[] = [];
    runs += 1;
    const result = await runDemo(
      { ...BASE, dir: join(dir, `${options.scenario}-${runs}`), ...options, ...(onSandbox ? { onSandbox } : {}) },
      { stdout: (t) => out.push(t), stderr: (t) => out.push(t) },
    );
    return { code: result.code, summary: result.summary as DemoSummary, output: out.join('') };
  };
}

/** The canary weights the gateway applied, in order, without repeats. */
export function canaryWeightsSeen(sandbox: Sandbox): number[] {
  const seen: number[] = [];
  for (const change of sandbox.gateway.stats().weightChanges) {
    const weight = change.weights[SANDBOX_NAMES.upstreams.canary] ?? 0;
    if (seen.at(-1) !== weight) seen.push(weight);
  }
  return seen;
}
