/**
 * What a look decided, in one word people read in the console, the summary, the report and Slack.
 * The threshold judge's verdict is the word (pass, fail, no data). The sequential judge decides
 * differently: most looks decide nothing yet, and calling those "pass" would put a green mark next
 * to a canary failing 10% of its requests while the evidence is still gathering — so they are
 * "continue", and a step ended early on evidence is "advance".
 */
import type { CheckResult, Verdict } from './verdict.ts';

export type LookWord = CheckResult | 'continue' | 'advance';

export function lookWord(verdict: Pick<Verdict, 'result' | 'evidence'>): LookWord {
  const evidence = verdict.evidence;
  if (evidence?.judge !== 'sequential') return verdict.result;
  switch (evidence.decision) {
    case 'fail':
      return 'fail';
    case 'advance-early':
      return 'advance';
    // No new scrape is neither evidence nor an empty look: the schedule runs on.
    case 'continue':
    case 'no-new-scrape':
      return 'continue';
    case 'no-evidence':
      return 'no-data';
    default: {
      const unknown: never = evidence.decision;
      throw new Error(`unknown sequential decision ${String(unknown)}`);
    }
  }
}
