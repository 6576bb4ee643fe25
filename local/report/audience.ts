/**
 * "Who got what" for the report of an A/B test or a blue/green rollout: the weights stay 100/0
 * through the A/B stage and blue/green's looks, so the weight chart alone would say nobody got the
 * new version. This says which requests reached it in each phase, from the spec the rollout ran
 * (its record keeps it, a summary carries it) and the weight changes the history recorded. Pure.
 */
import * as z from 'zod';
import { describeMatch, matchRuleSchema } from '../../lambdas/core/match.ts';
import { escapeHtml as esc, formatCount, formatTick } from './format.ts';

/** One phase of the rollout, in words: when it began (ms since the start, when known) and who reached the new version. */
export interface AudiencePhase {
  name: string;
  who: string;
  atMs?: number;
}

export interface Audience {
  strategy: 'A/B testing' | 'blue/green';
  /** A/B: the match rule in words. */
  rule?: string;
  phases: AudiencePhase[];
  /** Requests each arm served while the stage ran (the demo's counts, or the sequential judge's), when counted. */
  arms?: { canary: number; primary: number };
}

/** The strategy fields the report reads; anything else in the spec is left alone (a stored spec may be older or newer). */
const strategySchema = z.object({
  strategy: z.object({
    iterations: z.number().optional(),
    match: z.array(matchRuleSchema).optional(),
    blueGreen: z.object({}).passthrough().optional(),
    shadow: z.object({ percentage: z.number().optional(), duration: z.string().optional() }).passthrough().optional(),
  }),
});

interface AudienceInput {
  /** The spec the rollout ran (summary.spec or the record's spec), the whole document or its `spec`. */
  spec: unknown;
  /** The rollout's outcome, or `running`. */
  outcome: string;
  startMs: number;
  /** The recorded canary share over time, percent. */
  weights: ReadonlyArray<{ t: number; percent: number }>;
  arms?: { canary: number; primary: number } | undefined;
}

function strategyOf(spec: unknown): z.infer<typeof strategySchema>['strategy'] | undefined {
  const inner = spec && typeof spec === 'object' && 'spec' in spec ? (spec as { spec: unknown }).spec : spec;
  const parsed = strategySchema.safeParse(inner);
  return parsed.success ? parsed.data.strategy : undefined;
}

/** Who got what, or undefined for a weighted canary (the weight chart says it) or a spec the report cannot read. */
export function audienceOf(input: AudienceInput): Audience | undefined {
  const strategy = strategyOf(input.spec);
  if (!strategy || (!strategy.match && !strategy.blueGreen)) return undefined;
  const looks = strategy.iterations !== undefined ? `${strategy.iterations} looks` : 'its looks';
  const arms = input.arms && input.arms.canary + input.arms.primary > 0 ? { arms: input.arms } : {};
  const promoted = input.outcome === 'promoted';
  const closing: AudiencePhase | undefined =
    input.outcome === 'running'
      ? undefined
      : promoted
        ? { name: 'after promotion', who: 'everyone → the new version (the primary runs it)' }
        : { name: `after ${input.outcome}`, who: 'everyone → the primary (the old version)' };
  if (strategy.match) {
    const rule = describeMatch(strategy.match);
    return {
      strategy: 'A/B testing',
      rule,
      phases: [
        { name: 'A/B stage', who: `requests where ${rule} → the canary (new version); everyone else → the primary, for ${looks}` },
        ...(closing ? [{ ...closing, who: `${closing.who}; the match route removed` }] : []),
      ],
      ...arms,
    };
  }
  const phases: AudiencePhase[] = [];
  if (strategy.shadow)
    phases.push({
      name: 'mirror',
      who: `${strategy.shadow.percentage ?? 100}% of live requests copied to green${strategy.shadow.duration ? ` for ${strategy.shadow.duration}` : ''} (its answers discarded); every user on blue`,
    });
  phases.push({
    name: 'green judged',
    who: `every user on blue; green judged on its own traffic (test or mirrored requests) for ${looks}`,
  });
  const switched = input.weights.find((point) => point.percent >= 100);
  if (switched) {
    const back = input.weights.find((point) => point.t > switched.t && point.percent < 100);
    phases.push({ name: 'switch', who: 'everyone → green, in one switch of all traffic', atMs: switched.t - input.startMs });
    if (back && promoted)
      phases.push({ name: 'after promotion', who: "everyone → the primary, now running green's version", atMs: back.t - input.startMs });
    else if (closing) phases.push({ ...closing, ...(back ? { atMs: back.t - input.startMs } : {}) });
  } else if (closing) {
    phases.push({ ...closing, who: promoted ? closing.who : 'every user stayed on blue: no user reached green' });
  }
  return { strategy: 'blue/green', phases, ...arms };
}

/** The report's "Who got what" card. */
export function audienceSection(audience: Audience): string {
  const rows = audience.phases
    .map(
      (phase) =>
        `<tr><th scope="row">${esc(phase.name)}</th><td class="num">${phase.atMs === undefined ? '—' : esc(formatTick(phase.atMs))}</td><td>${esc(phase.who)}</td></tr>`,
    )
    .join('');
  const arms = audience.arms
    ? `<p data-testid="audience-arms">Requests during the rollout: ${esc(formatCount(audience.arms.canary))} to the canary (new version), ${esc(formatCount(audience.arms.primary))} to the primary.</p>`
    : '';
  return `<section class="card" aria-label="Who got what" data-testid="audience"><h2>Who got what: ${esc(audience.strategy)}</h2><table><thead><tr><th scope="col">Phase</th><th scope="col">From</th><th scope="col">Who reached which version</th></tr></thead><tbody>${rows}</tbody></table>${arms}</section>`;
}
