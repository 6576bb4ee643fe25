/**
 * What a look measures and what a judge answers: readings in, a verdict with its checks and
 * evidence out. Plain JSON data (the ASL carries verdicts between states, the store keeps them).
 */
import type { SourceTally } from './counts.ts';

/** One value from a metrics backend; `null` means the query returned no data. */
export type MetricValue = number | null;

/** What one metric measured at one look, with the range it is judged against. */
export interface MetricReading {
  name: string;
  value: MetricValue;
  thresholdRange?: { min?: number | undefined; max?: number | undefined } | undefined;
  /** The query as sent (for evidence). */
  query?: string;
  /** The primary's value for the same metric, when measured (for the picture, not the verdict). */
  primaryValue?: MetricValue;
}

export type CheckResult = 'pass' | 'fail' | 'no-data';

export interface MetricCheck {
  name: string;
  value: MetricValue;
  min?: number | undefined;
  max?: number | undefined;
  result: CheckResult;
  /** The primary's value at the same look, when measured (evidence for people, not for the verdict). */
  primary?: MetricValue;
  /** The sequential judge's statistics for this metric (absent for the threshold judge). */
  evidence?: CheckEvidence;
}

/** Requests and events (errors, or requests over a latency threshold) of one arm. */
export interface ArmEvidence {
  requests: number;
  events: number;
}

/** What the sequential judge knows about one metric after a look (JSON-safe: no Infinity). */
export interface CheckEvidence {
  /** e-value of "the canary is worse than the primary" over the whole rollout, and its always-valid p-value. */
  eValue: number;
  pValue: number;
  /** How this look's factor was computed: binomial (rare events), exact (hypergeometric), none (no evidence). */
  method: 'binomial' | 'exact' | 'none';
  /** The one-sample e-value of "the canary's rate is above the allowed rate", when the metric has a thresholdRange. */
  threshold?: { allowedRate: number; eValue: number; pValue: number };
  /** e-value of "the canary is within the allowed margin/threshold" in the current step (early advance). */
  promotionEValue: number;
  /** Confidence sequence of the canary/primary rate ratio over the current step (null: unbounded). */
  ratioBounds?: { lower: number; upper: number | null; confidence: number };
  look: { canary: ArmEvidence; primary: ArmEvidence };
  step: { canary: ArmEvidence; primary: ArmEvidence };
  rollout: { canary: ArmEvidence; primary: ArmEvidence };
  /** What the events are, in words: "errors", "requests over 500 ms" (absent in records written before it). */
  counted?: string;
}

/** One arm's raw counts between two looks, as the judge read them. */
export interface LookArmCounts {
  requests: number;
  errors: number;
  /** Requests over each latency threshold (ms). */
  slow: Record<string, number>;
  retries?: number | undefined;
}

/** What decided a sequential verdict. */
export interface VerdictEvidence {
  judge: 'sequential';
  decision: 'fail' | 'advance-early' | 'continue' | 'no-evidence' | 'no-new-scrape';
  /** Mean of the k failure e-processes, and the bar it is compared with (1/alpha). */
  eValue: number;
  failAt: number;
  /** Smallest promotion e-value over the metrics, and its bar (1/alphaPromote). */
  promotionEValue: number;
  promoteAt: number;
  /** Always-valid p-value of the mean (min over looks of 1/E). */
  pValue: number;
  stepIndex: number;
  looksInStep: number;
  secondsInStep: number;
  /** The canary's measured share of this look's requests (null when nothing was served). */
  canaryShare: number | null;
  /** False when the two-arm tests were off (A/B or blue/green without analysis.compareArms): thresholds alone judged. */
  twoArm?: false | undefined;
  /**
   * The look's raw counts and the counter reads they lie between (query times): enough to judge
   * the look again under other settings. Absent in records written before they were kept.
   */
  counts?: {
    from: string;
    to: string;
    canary: LookArmCounts;
    primary: LookArmCounts;
    /** The same from windows that began at the current weight (the two-arm tests read only these). */
    clean?: { canary: LookArmCounts; primary: LookArmCounts } | undefined;
    /** False when no source had a new scrape since the previous look (absent: it had, or not recorded). */
    newScrape?: boolean | undefined;
    /** How the scrape sources were treated: a look with no source counted saw nothing (not an empty canary). */
    sources?: SourceTally | undefined;
  };
}

/** A judge's verdict for one look, with its evidence. */
export interface Verdict {
  /** pass: all metrics within range; fail: at least one out of range; no-data: nothing failed but something had no data. */
  result: CheckResult;
  checks: MetricCheck[];
  /** One line a person can read: "request-success-rate 97.2 < min 99". */
  summary: string;
  /** The sequential judge's decision and statistics (absent for the threshold judge). */
  evidence?: VerdictEvidence;
}
