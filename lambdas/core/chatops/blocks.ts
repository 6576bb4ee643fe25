/**
 * Block Kit for the rollout thread and the replies. Pure: builds JSON typed by @slack/types.
 * Every builder clips its texts, and `messageProblems` checks a message against Slack's limits
 * (50 blocks, 3000 characters per text object, 150 per header, 75 per button label, 2000 per
 * button value), so a long verdict summary can never make Slack refuse the update.
 */
import type { ActionsBlock, Button, ContextBlock, HeaderBlock, KnownBlock, SectionBlock } from '@slack/types';
import { lookWord } from '../look-word.ts';
import type { ArmEvidence, MetricCheck, Verdict } from '../verdict.ts';
import type { Outcome, Weights } from '../records.ts';

export const LIMITS = { blocks: 50, text: 3000, header: 150, buttonText: 75, buttonValue: 2000, fallbackText: 4000 } as const;

export type ButtonAction = 'approve' | 'promote' | 'abort';
export const ACTION_PREFIX = 'sluice:';

/** What a button carries: the execution and the gate it settles, so an old thread's button never acts on a newer attempt. */
export interface ButtonValue {
  execution: string;
  gate: string;
}

/** The gate of the head message's Promote now / Abort buttons (the rollout itself, not an approval gate). */
export const ROLLOUT_GATE = 'rollout';

export function encodeButtonValue(value: ButtonValue): string {
  return JSON.stringify({ e: value.execution, g: value.gate });
}

export function decodeButtonValue(text: string): ButtonValue | null {
  try {
    const parsed = JSON.parse(text) as { e?: unknown; g?: unknown };
    if (typeof parsed.e !== 'string' || typeof parsed.g !== 'string' || !parsed.e || !parsed.g) return null;
    return { execution: parsed.e, gate: parsed.g };
  } catch {
    return null;
  }
}

export interface Acted {
  action: ButtonAction;
  user: string;
  at: string;
}

/** Everything the head message shows; built by the notifier from the store. */
export interface RolloutView {
  target: string;
  version: string;
  execution: string;
  state: 'running' | Outcome | 'finished';
  weights: Weights;
  scale: number;
  startedAt: string;
  requestedBy: string;
  reason?: string | undefined;
  lastLook?: { at: string; verdict: Verdict } | undefined;
  /** The click (or command) that settled the buttons: first one wins. */
  acted?: Acted | undefined;
  /** A pending approval gate: shows the Approve button. */
  approvalGate?: string | undefined;
}

export function clip(text: string, max: number = LIMITS.text): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Slack renders the date in the reader's time zone; the fallback is UTC ISO for clients that cannot. */
export function slackDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const fallback = new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${fallback}>`;
}

/** `slack:U123` -> a mention; anything else (CLI user, deploy event) as code. */
export function who(requestedBy: string): string {
  const slack = /^slack:([UW][A-Z0-9]+)$/.exec(requestedBy);
  return slack ? `<@${slack[1]}>` : `\`${requestedBy.replace(/`/g, "'")}\``;
}

export function percent(weight: number, scale: number): string {
  return `${Number(((weight * 100) / scale).toFixed(scale === 1000 ? 1 : 0))}%`;
}

/** Ten cells, filled by the canary's share: ▰▰▱▱▱▱▱▱▱▱ canary 20%. */
export function weightsBar(weights: Weights, scale: number): string {
  const filled = Math.round((weights.canary / scale) * 10);
  return `${'▰'.repeat(filled)}${'▱'.repeat(10 - filled)}  canary ${percent(weights.canary, scale)} · primary ${percent(weights.primary, scale)}`;
}

const STATE_LABEL: Record<RolloutView['state'], string> = {
  running: ':hourglass_flowing_sand: running',
  promoted: ':white_check_mark: promoted',
  'rolled-back': ':rewind: rolled back',
  aborted: ':octagonal_sign: aborted',
  'promotion-failed': ':warning: promotion failed (traffic held on the canary)',
  refused: ':no_entry: refused',
  failed: ':x: failed',
  finished: 'finished',
};

const ACTED_LABEL: Record<ButtonAction, string> = { abort: 'Aborted', promote: 'Promotion requested', approve: 'Approved' };

function mrkdwn(text: string): { type: 'mrkdwn'; text: string } {
  return { type: 'mrkdwn', text: clip(text) };
}

function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return 'no data';
  return Number.isInteger(value) ? String(value) : value.toFixed(3).replace(/0+$/, '');
}

function eText(value: number): string {
  return value >= 1e4 ? value.toExponential(1) : value >= 100 ? value.toFixed(0) : String(Number(value.toPrecision(3)));
}

/** The sequential judge's numbers for one metric: the look's counts per arm, its e-value, the ratio bounds. */
function evidenceLine(check: MetricCheck & { evidence: NonNullable<MetricCheck['evidence']> }): string {
  const counted = check.evidence.counted ?? check.name;
  const arm = (a: ArmEvidence) => `${a.events}/${a.requests}${a.requests > 0 ? ` (${((100 * a.events) / a.requests).toFixed(2)}%)` : ''}`;
  const bounds = check.evidence.ratioBounds;
  const ratio = bounds ? ` · ratio ${eText(bounds.lower)}–${bounds.upper === null ? '∞' : eText(bounds.upper)}` : '';
  const mark = check.result === 'fail' ? ':red_circle:' : ':white_circle:';
  return `${mark} ${counted}: canary ${arm(check.evidence.look.canary)} vs primary ${arm(check.evidence.look.primary)} · e-value ${eText(check.evidence.eValue)}${ratio}`;
}

/**
 * One line per metric with its numbers: value, range, result, and the primary's value when known.
 * The sequential judge's looks show counts and e-values instead (its looks are not threshold checks),
 * after one line with the e-values against their bars.
 */
export function verdictLines(verdict: Verdict): string[] {
  const e = verdict.evidence;
  if (e?.judge === 'sequential') {
    const lines = [
      `e-value ${eText(e.eValue)} (rolls back at ${eText(e.failAt)}) · promotion e-value ${eText(e.promotionEValue)} (advances at ${eText(e.promoteAt)})`,
    ];
    for (const check of verdict.checks) if (check.evidence) lines.push(evidenceLine({ ...check, evidence: check.evidence }));
    return lines;
  }
  return verdict.checks.map((check) => {
    const range = [check.min !== undefined ? `min ${check.min}` : '', check.max !== undefined ? `max ${check.max}` : '']
      .filter(Boolean)
      .join(', ');
    const mark = check.result === 'pass' ? ':large_green_circle:' : check.result === 'fail' ? ':red_circle:' : ':white_circle:';
    const primary = check.primary !== undefined ? ` (primary ${formatNumber(check.primary)})` : '';
    return `${mark} ${check.name} ${formatNumber(check.value)}${primary}${range ? ` — ${range}` : ''}`;
  });
}

function button(
  action: ButtonAction,
  text: string,
  value: ButtonValue,
  confirm: { title: string; text: string; ok: string },
  style?: 'primary' | 'danger',
): Button {
  return {
    type: 'button',
    action_id: `${ACTION_PREFIX}${action}`,
    text: { type: 'plain_text', text: clip(text, LIMITS.buttonText) },
    value: encodeButtonValue(value),
    ...(style ? { style } : {}),
    confirm: {
      title: { type: 'plain_text', text: clip(confirm.title, 100) },
      text: { type: 'mrkdwn', text: clip(confirm.text, 300) },
      confirm: { type: 'plain_text', text: clip(confirm.ok, 30) },
      deny: { type: 'plain_text', text: 'Cancel' },
      ...(style === 'danger' ? { style: 'danger' as const } : {}),
    },
  };
}

/** The thread's head message: target, version, weights bar, last verdict with numbers, state, and the buttons while they can act. */
export function headBlocks(view: RolloutView): KnownBlock[] {
  const header: HeaderBlock = { type: 'header', text: { type: 'plain_text', text: clip(`${view.target} ${view.version}`, LIMITS.header) } };
  const state: SectionBlock = {
    type: 'section',
    text: mrkdwn(`*${STATE_LABEL[view.state]}*${view.reason ? ` — ${view.reason}` : ''}\n${weightsBar(view.weights, view.scale)}`),
  };
  const blocks: KnownBlock[] = [header, state];
  if (view.lastLook) {
    const { verdict, at } = view.lastLook;
    blocks.push({
      type: 'section',
      text: mrkdwn(`*Last look* ${slackDate(at)}: *${lookWord(verdict)}* — ${verdict.summary}\n${verdictLines(verdict).join('\n')}`),
    });
  }
  const context: ContextBlock = {
    type: 'context',
    elements: [mrkdwn(`Started ${slackDate(view.startedAt)} by ${who(view.requestedBy)} · \`${view.execution}\``)],
  };
  blocks.push(context);
  if (view.acted) {
    blocks.push({
      type: 'context',
      elements: [mrkdwn(`*${ACTED_LABEL[view.acted.action]}* by <@${view.acted.user}> ${slackDate(view.acted.at)}`)],
    });
  } else if (view.state === 'running') {
    const elements: Button[] = [];
    if (view.approvalGate) {
      elements.push(
        button(
          'approve',
          'Approve',
          { execution: view.execution, gate: view.approvalGate },
          {
            title: 'Approve?',
            text: `Let *${view.target} ${view.version}* continue past the \`${view.approvalGate}\` gate.`,
            ok: 'Approve',
          },
          'primary',
        ),
      );
    }
    const gate = { execution: view.execution, gate: ROLLOUT_GATE };
    elements.push(
      button('promote', 'Promote now', gate, {
        title: 'Promote now?',
        text: `Skip the remaining analysis steps and promote *${view.target} ${view.version}*.`,
        ok: 'Promote',
      }),
    );
    elements.push(
      button(
        'abort',
        'Abort',
        gate,
        {
          title: 'Abort the rollout?',
          text: `All traffic goes back to the primary; *${view.target} ${view.version}* is rolled back.`,
          ok: 'Abort',
        },
        'danger',
      ),
    );
    const actions: ActionsBlock = { type: 'actions', block_id: 'sluice-actions', elements };
    blocks.push(actions);
  }
  return blocks;
}

/** The notification text (used by Slack for notifications and screen readers, and as the fallback). */
export function headText(view: RolloutView): string {
  const look = view.lastLook ? `; last look ${lookWord(view.lastLook.verdict)}: ${view.lastLook.verdict.summary}` : '';
  return clip(
    `${view.target} ${view.version}: ${view.state}, canary ${percent(view.weights.canary, view.scale)}${look}`,
    LIMITS.fallbackText,
  );
}

export interface SlackMessage {
  text: string;
  blocks?: KnownBlock[];
  response_type?: 'ephemeral' | 'in_channel';
  replace_original?: boolean;
}

/** A reply only the caller sees. */
export function ephemeral(text: string): SlackMessage {
  return { response_type: 'ephemeral', text: clip(text, LIMITS.fallbackText), blocks: [{ type: 'section', text: mrkdwn(text) }] };
}

/** Problems with a message against Slack's limits (empty when it fits). */
export function messageProblems(message: { text?: string; blocks?: readonly KnownBlock[] }): string[] {
  const problems: string[] = [];
  const blocks = message.blocks ?? [];
  if (blocks.length > LIMITS.blocks) problems.push(`${blocks.length} blocks (at most ${LIMITS.blocks})`);
  if ((message.text?.length ?? 0) > LIMITS.fallbackText)
    problems.push(`text has ${message.text?.length} characters (at most ${LIMITS.fallbackText})`);
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${path}[${i}]`));
    if (node === null || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if ((record.type === 'mrkdwn' || record.type === 'plain_text') && typeof record.text === 'string' && record.text.length > LIMITS.text) {
      problems.push(`${path}.text has ${record.text.length} characters (at most ${LIMITS.text})`);
    }
    if (
      record.type === 'header' &&
      typeof (record.text as { text?: unknown } | undefined)?.text === 'string' &&
      (record.text as { text: string }).text.length > LIMITS.header
    ) {
      problems.push(`${path} header has more than ${LIMITS.header} characters`);
    }
    if (record.type === 'button') {
      if (((record.text as { text?: string } | undefined)?.text?.length ?? 0) > LIMITS.buttonText)
        problems.push(`${path} button label over ${LIMITS.buttonText} characters`);
      if (typeof record.value === 'string' && record.value.length > LIMITS.buttonValue)
        problems.push(`${path} button value over ${LIMITS.buttonValue} characters`);
    }
    for (const [key, value] of Object.entries(record)) walk(value, `${path}.${key}`);
  };
  walk(blocks, 'blocks');
  return problems;
}
