import { describe, expect, it } from 'vitest';
import { lookWord } from './look-word.ts';
import type { VerdictEvidence } from './verdict.ts';

function sequential(decision: VerdictEvidence['decision']): VerdictEvidence {
  return {
    judge: 'sequential',
    decision,
    eValue: 3,
    failAt: 100,
    promotionEValue: 1,
    promoteAt: 20,
    pValue: 0.3,
    stepIndex: 0,
    looksInStep: 1,
    secondsInStep: 5,
    canaryShare: 0.05,
  };
}

describe('lookWord', () => {
  it("names the threshold judge's looks by their verdict", () => {
    expect(lookWord({ result: 'pass' })).toBe('pass');
    expect(lookWord({ result: 'fail' })).toBe('fail');
    expect(lookWord({ result: 'no-data' })).toBe('no-data');
  });

  it("never calls an undecided sequential look a pass, though the judge's verdict result is pass", () => {
    expect(lookWord({ result: 'pass', evidence: sequential('continue') })).toBe('continue');
    expect(lookWord({ result: 'pass', evidence: sequential('no-new-scrape') })).toBe('continue');
    expect(lookWord({ result: 'pass', evidence: sequential('advance-early') })).toBe('advance');
    expect(lookWord({ result: 'fail', evidence: sequential('fail') })).toBe('fail');
    expect(lookWord({ result: 'no-data', evidence: sequential('no-evidence') })).toBe('no-data');
  });

  it('throws on a decision it does not know (a record from a newer judge)', () => {
    expect(() => lookWord({ result: 'pass', evidence: sequential('later' as VerdictEvidence['decision']) })).toThrow(
      /unknown sequential decision later/,
    );
  });
});
