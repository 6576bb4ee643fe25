/**
 * Block Kit for a fleet release's one thread: the head message shows the waves, each cluster's
 * state, weight and last verdict, and the fleet's buttons (abort, pause, resume, promote the rest);
 * a cluster waiting at an approval gate gets its Approve button here too, since its rollout has
 * no thread of its own. Pure: the Slack notifier builds the view from the store.
 */
import type { ActionsBlock, Button, ContextBlock, HeaderBlock, KnownBlock, SectionBlock } from '@slack/types';
import { lookWord } from '../look-word.ts';
import type { Outcome, Weights } from '../records.ts';
import type { Verdict } from '../verdict.ts';
import { ACTION_PREFIX, LIMITS, clip, encodeButtonValue, percent, slackDate, who } from './blocks.ts';

/** The fleet's buttons: each is the fleet-wide verb of the CLI (local/fleet.ts). */
export const FLEET_ACTIONS = ['fleet-abort', 'fleet-pause', 'fleet-resume', 'fleet-promote-rest'] as const;
export type FleetAction = (typeof FLEET_ACTIONS)[number];

/** A fleet button's gate is `fleet:<target>`: the release has no record of its own to name its target. */
export const FLEET_GATE = 'fleet';

export function isFleetAction(action: string): action is FleetAction {
  return (FLEET_ACTIONS as readonly string[]).includes(action);
}

/**
 * The access policy's action for a fleet verb. Pausing stops the fleet from going on, so whoever
 * may abort may pause; resuming and promoting the rest move traffic forward, as promote does.
 */
export function fleetAccessAction(action: FleetAction): 'abort' | 'promote' {
  switch (action) {
    case 'fleet-abort':
    case 'fleet-pause':
      return 'abort';
    case 'fleet-resume':
    case 'fleet-promote-rest':
      return 'promote';
    default: {
      const never: never = action;
      throw new Error(`unknown fleet action ${String(never)}`);
    }
  }
}

export interface FleetActed {
  action: FleetAction;
  user: string;
  at: string;
}

export type FleetClusterState = 'not-started' | 'running' | Outcome | 'finished';

export interface FleetClusterView {
  cluster: string;
  execution: string;
  state: FleetClusterState;
  weights?: Weights | undefined;
  scale: number;
  reason?: string | undefined;
  lastLook?: { at: string; verdict: Verdict } | undefined;
  /** A pending approval gate of this cluster's rollout: its Approve button is on the fleet's head. */
  approvalGate?: string | undefined;
}

export interface FleetWaveView {
  clusters: FleetClusterView[];
  pause?: string | undefined;
}

/** The release's state: running (or paused, or halting after an abort or a failed cluster) until its execution ends. */
export type FleetState = 'running' | 'paused' | 'halting' | 'promoted' | 'halted' | 'stopped' | 'refused';

export interface FleetView {
  target: string;
  version: string;
  /** The fleet execution's name. */
  execution: string;
  state: FleetState;
  reason?: string | undefined;
  requestedBy?: string | undefined;
  startedAt?: string | undefined;
  waves: FleetWaveView[];
  /** Promote the rest was requested: every remaining wave runs at once, without pauses. */
  promoteRest: boolean;
  /** Who paused it, and when, while it is paused (pause/resume are toggles, not claims). */
  control?: { by: string; at?: string | undefined } | undefined;
  /** One-shot clicks: abort ends the buttons; promote the rest leaves Abort. */
  aborted?: FleetActed | undefined;
  promotedRest?: FleetActed | undefined;
}

const FLEET_LABEL: Record<FleetState, string> = {
  running: ':hourglass_flowing_sand: running',
  paused: ':double_vertical_bar: paused between waves',
  halting: ':octagonal_sign: halting',
  promoted: ':white_check_mark: promoted on every cluster',
  halted: ':rewind: halted',
  stopped: ':octagonal_sign: stopped',
  refused: ':no_entry: refused',
};

const CLUSTER_MARK: Record<FleetClusterState, string> = {
  'not-started': ':white_circle:',
  running: ':hourglass_flowing_sand:',
  promoted: ':white_check_mark:',
  'rolled-back': ':rewind:',
  aborted: ':octagonal_sign:',
  'promotion-failed': ':warning:',
  refused: ':no_entry:',
  failed: ':x:',
  finished: ':black_circle:',
};

export function fleetEnded(state: FleetState): boolean {
  return state === 'promoted' || state === 'halted' || state === 'stopped' || state === 'refused';
}

function mrkdwn(text: string): { type: 'mrkdwn'; text: string } {
  return { type: 'mrkdwn', text: clip(text) };
}

/** One line per cluster: its state, its canary's share, its last look's word and summary. */
export function clusterLine(view: FleetClusterView): string {
  const weight =
    view.weights && view.state === 'running'
      ? ` — canary ${percent(view.weights.canary, view.scale)}`
      : view.weights && view.state === 'promoted'
        ? ' — 100% new version'
        : '';
  const look = view.lastLook ? ` · last look ${lookWord(view.lastLook.verdict)}: ${view.lastLook.verdict.summary}` : '';
  const why = view.state !== 'running' && view.state !== 'promoted' && view.reason ? ` (${view.reason})` : '';
  const gate = view.approvalGate ? ` · waiting for approval at \`${view.approvalGate}\`` : '';
  return clip(`${CLUSTER_MARK[view.state]} *${view.cluster}* ${view.state}${weight}${why}${look}${gate}`, 600);
}

function fleetButton(action: FleetAction, text: string, view: FleetView, confirm: string, style?: 'primary' | 'danger'): Button {
  return {
    type: 'button',
    action_id: `${ACTION_PREFIX}${action}`,
    text: { type: 'plain_text', text: clip(text, LIMITS.buttonText) },
    value: encodeButtonValue({ execution: view.execution, gate: `${FLEET_GATE}:${view.target}` }),
    ...(style ? { style } : {}),
    confirm: {
      title: { type: 'plain_text', text: clip(`${text}?`, 100) },
      text: { type: 'mrkdwn', text: clip(confirm, 300) },
      confirm: { type: 'plain_text', text: clip(text, 30) },
      deny: { type: 'plain_text', text: 'Cancel' },
      ...(style === 'danger' ? { style: 'danger' as const } : {}),
    },
  };
}

const ACTED: Record<FleetAction, string> = {
  'fleet-abort': 'Fleet aborted',
  'fleet-pause': 'Paused',
  'fleet-resume': 'Resumed',
  'fleet-promote-rest': 'Promote the rest requested',
};

/** The head message of the fleet's thread. */
export function fleetHeadBlocks(view: FleetView): KnownBlock[] {
  const release = `${view.target} ${view.version}`;
  const header: HeaderBlock = { type: 'header', text: { type: 'plain_text', text: clip(`${release} — fleet`, LIMITS.header) } };
  const state: SectionBlock = {
    type: 'section',
    text: mrkdwn(
      `*${FLEET_LABEL[view.state]}*${view.reason ? ` — ${view.reason}` : ''}${view.promoteRest ? '\nthe rest of the waves run at once' : ''}`,
    ),
  };
  const blocks: KnownBlock[] = [header, state];
  // Slack allows 50 blocks: the waves past the first 40 share one section.
  const shown = view.waves.slice(0, 40);
  shown.forEach((wave, i) => {
    const bake = wave.pause && i < view.waves.length - 1 ? ` (then a ${wave.pause} bake)` : '';
    blocks.push({ type: 'section', text: mrkdwn(`*Wave ${i + 1}*${bake}\n${wave.clusters.map(clusterLine).join('\n')}`) });
  });
  if (view.waves.length > shown.length) {
    const rest = view.waves.slice(shown.length).flatMap((wave) => wave.clusters.map(clusterLine));
    blocks.push({ type: 'section', text: mrkdwn(`*Waves ${shown.length + 1}–${view.waves.length}*\n${rest.join('\n')}`) });
  }
  const started = view.startedAt ? `Started ${slackDate(view.startedAt)}` : 'Starting';
  const context: ContextBlock = {
    type: 'context',
    elements: [mrkdwn(`${started}${view.requestedBy ? ` by ${who(view.requestedBy)}` : ''} · \`${view.execution}\``)],
  };
  blocks.push(context);
  const acted = [view.aborted, view.promotedRest].filter((a): a is FleetActed => a !== undefined);
  const lines = acted.map((a) => `*${ACTED[a.action]}* by <@${a.user}> ${slackDate(a.at)}`);
  if (view.control && !fleetEnded(view.state))
    lines.push(`*Paused* by ${who(view.control.by)}${view.control.at ? ` ${slackDate(view.control.at)}` : ''}`);
  if (lines.length) blocks.push({ type: 'context', elements: [mrkdwn(lines.join('\n'))] });
  if (fleetEnded(view.state) || view.aborted || view.state === 'halting') return blocks;
  const elements: Button[] = [];
  for (const cluster of view.waves.flatMap((wave) => wave.clusters)) {
    if (!cluster.approvalGate || elements.length >= 20) continue;
    elements.push({
      type: 'button',
      action_id: `${ACTION_PREFIX}approve`,
      text: { type: 'plain_text', text: clip(`Approve ${cluster.cluster}`, LIMITS.buttonText) },
      value: encodeButtonValue({ execution: cluster.execution, gate: cluster.approvalGate }),
      style: 'primary',
      confirm: {
        title: { type: 'plain_text', text: 'Approve?' },
        text: {
          type: 'mrkdwn',
          text: clip(`Let *${release}* on ${cluster.cluster} continue past the \`${cluster.approvalGate}\` gate.`, 300),
        },
        confirm: { type: 'plain_text', text: 'Approve' },
        deny: { type: 'plain_text', text: 'Cancel' },
      },
    });
  }
  if (view.state === 'paused')
    elements.push(fleetButton('fleet-resume', 'Resume', view, `Let *${release}* go on with its next wave.`, 'primary'));
  else elements.push(fleetButton('fleet-pause', 'Pause', view, `Hold *${release}* after the wave now rolling; nothing is rolled back.`));
  if (!view.promotedRest)
    elements.push(
      fleetButton(
        'fleet-promote-rest',
        'Promote the rest',
        view,
        `Run every remaining wave of *${release}* at once, without the bakes between them.`,
      ),
    );
  elements.push(
    fleetButton(
      'fleet-abort',
      'Abort the fleet',
      view,
      `Every cluster still rolling goes back to its primary, and no further wave starts; promoted clusters stay promoted.`,
      'danger',
    ),
  );
  const actions: ActionsBlock = { type: 'actions', block_id: 'sluice-fleet-actions', elements: elements.slice(0, 25) };
  blocks.push(actions);
  return blocks;
}

/** The notification text (fallback) of the head message. */
export function fleetHeadText(view: FleetView): string {
  const clusters = view.waves.flatMap((wave) => wave.clusters);
  const count = (state: FleetClusterState) => clusters.filter((c) => c.state === state).length;
  return clip(
    `${view.target} ${view.version} (fleet): ${view.state}; ${count('promoted')}/${clusters.length} clusters promoted, ${count('running')} rolling${view.reason ? ` — ${view.reason}` : ''}`,
    LIMITS.fallbackText,
  );
}

/** `/sluice status <fleet target>`: the same view as lines of text. */
export function fleetStatusText(view: FleetView): string {
  const lines = [
    `*${view.target}* (fleet): ${view.state} — ${view.version} (\`${view.execution}\`)${view.reason ? ` — ${view.reason}` : ''}`,
  ];
  if (view.startedAt) lines.push(`started ${slackDate(view.startedAt)}${view.requestedBy ? ` by ${who(view.requestedBy)}` : ''}`);
  view.waves.forEach((wave, i) => lines.push(`*Wave ${i + 1}*`, ...wave.clusters.map(clusterLine)));
  return lines.join('\n');
}
