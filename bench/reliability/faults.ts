/**
 * The fault menu of the reliability soak, in the words,
 * and the seeded plan that hands every rollout a few of them at chosen moments.
 */

export const FAULT_KINDS = [
  // Kubernetes API faults on the target's UpstreamGroup (or its Deployments).
  'api-503-burst',
  'api-503-sustained',
  'api-drop-burst',
  'api-timeout-burst',
  'api-429-burst',
  'api-409-storm',
  'api-403-after-move',
  // Gloo's verdict.
  'gloo-rejected-transient',
  'gloo-rejected-sticky',
  // The cluster and other writers.
  'primary-never-ready',
  'foreign-weights',
  'foreign-template',
  'promote-copy-fails',
  'promote-switch-fails',
  'duplicate-trigger',
  // Metrics and webhooks (in the engine's process).
  'prometheus-5xx',
  'prometheus-slow',
  'prometheus-empty',
  'prometheus-nan',
  'webhook-fails', // a `rollout` hook and the gate states' hooks (ConfirmRollout, ConfirmPromotion) fail for a call
  // The store (the engine's SQLite file; DynamoDB throttling in AWS).
  'store-busy',
  // People and the engine.
  'stop-execution',
  'abort',
  'approve',
  'promote-now',
  'sigkill-engine',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * When a fault is injected, as seen on the API server: at the start, when the canary first gets
 * traffic, at the second step, once the primary runs the canary's template (Promote copied it),
 * or at the approval gate.
 */
export type Moment = 'start' | 'first-move' | 'second-step' | 'promote-copy' | 'gate';

const MOMENTS: Record<FaultKind, readonly Moment[]> = {
  'api-503-burst': ['start', 'first-move', 'second-step', 'promote-copy'],
  'api-503-sustained': ['first-move', 'second-step'],
  'api-drop-burst': ['start', 'first-move', 'second-step', 'promote-copy'],
  'api-timeout-burst': ['start', 'first-move', 'second-step'],
  'api-429-burst': ['start', 'first-move', 'second-step'],
  'api-409-storm': ['first-move', 'second-step'],
  'api-403-after-move': ['first-move', 'second-step'],
  'gloo-rejected-transient': ['first-move', 'second-step'],
  'gloo-rejected-sticky': ['first-move', 'second-step'],
  'primary-never-ready': ['start'],
  'foreign-weights': ['first-move', 'second-step'],
  'foreign-template': ['first-move', 'second-step'],
  'promote-copy-fails': ['second-step'],
  'promote-switch-fails': ['promote-copy'],
  'duplicate-trigger': ['start'],
  'prometheus-5xx': ['start', 'first-move'],
  'prometheus-slow': ['start', 'first-move'],
  'prometheus-empty': ['first-move'],
  'prometheus-nan': ['first-move'],
  'webhook-fails': ['start'],
  'store-busy': ['first-move', 'second-step', 'promote-copy'],
  'stop-execution': ['first-move', 'second-step', 'promote-copy'],
  abort: ['first-move', 'second-step', 'promote-copy'],
  approve: ['gate'],
  'promote-now': ['first-move', 'second-step'],
  'sigkill-engine': ['first-move', 'second-step', 'promote-copy'],
};

/** Faults the soak injects from outside the engine (the API server): the only ones a killed engine's rollout can carry too. */
export const OUTSIDE_ENGINE: ReadonlySet<FaultKind> = new Set<FaultKind>([
  'api-503-burst',
  'api-503-sustained',
  'api-drop-burst',
  'api-timeout-burst',
  'api-429-burst',
  'api-409-storm',
  'api-403-after-move',
  'gloo-rejected-transient',
  'gloo-rejected-sticky',
  'primary-never-ready',
  'foreign-weights',
  'foreign-template',
  'promote-copy-fails',
  'promote-switch-fails',
  'store-busy',
]);

/**
 * Kinds whose rollout runs in an engine process of its own (bench/reliability/engine-child.ts):
 * the soak kills that process, or holds its SQLite file's write lock. Such a rollout carries only
 * OUTSIDE_ENGINE faults, so the shared engine's faults never need to reach into another process.
 */
export const OWN_ENGINE: ReadonlySet<FaultKind> = new Set<FaultKind>(['sigkill-engine', 'store-busy']);

/** The moment a re-dealt fault fires at in a fresh rollout: the earliest its kind allows, so it comes. */
export function earliestMoment(kind: FaultKind): Moment {
  return MOMENTS[kind][0] ?? 'start';
}

/** Kinds that need the rollout to get far (the copy, the switch, the approval gate). */
const LATE: Partial<Record<FaultKind, Moment>> = {
  'promote-copy-fails': 'second-step',
  'promote-switch-fails': 'promote-copy',
  approve: 'gate',
};
/** Kinds that stop a rollout's progress or end it: they fire no earlier than the other faults of their rollout. */
const DISRUPTIVE: ReadonlySet<FaultKind> = new Set([
  'gloo-rejected-transient',
  'prometheus-nan',
  'prometheus-empty',
  'api-503-sustained',
  'api-409-storm',
  'api-403-after-move',
  'gloo-rejected-sticky',
  'foreign-weights',
  'foreign-template',
  'stop-execution',
  'abort',
  'promote-now',
  'sigkill-engine',
  'store-busy',
]);
const ORDER: readonly Moment[] = ['start', 'first-move', 'second-step', 'promote-copy', 'gate'];

/** Whether a disruptive kind can wait for a late kind's moment (or it would end the rollout before that moment comes). */
function canWaitFor(kind: FaultKind, late: Moment): boolean {
  const last = MOMENTS[kind].at(-1) ?? 'start';
  return !DISRUPTIVE.has(kind) || ORDER.indexOf(last) >= ORDER.indexOf(late);
}

/** A hand never pairs a late kind with a disruptive one that must fire before the late kind's moment. */
function compatible(hand: readonly FaultKind[], kind: FaultKind): boolean {
  const late = LATE[kind];
  if (late && hand.some((k) => !canWaitFor(k, late))) return false;
  return hand.every((k) => {
    const theirs = LATE[k];
    return !theirs || canWaitFor(kind, theirs);
  });
}

export interface PlannedFault {
  kind: FaultKind;
  moment: Moment;
  /** Extra wait after the moment, so faults land at different points of a state. */
  delayMs: number;
}

export interface RolloutPlan {
  index: number;
  faults: PlannedFault[];
}

/** mulberry32: a small seeded generator, so one seed always plans the same soak. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/**
 * Every rollout gets `perRollout` faults; the kinds are dealt round-robin from a shuffled menu, so
 * at N = 12 each kind occurs at least twice (2 × kinds ≤ 12 × perRollout). A rollout never gets the
 * same kind twice, and a rollout in an engine of its own (OWN_ENGINE) gets only faults injected from outside it.
 */
export function planFaults(n: number, seed: number, kinds: readonly FaultKind[] = FAULT_KINDS): RolloutPlan[] {
  const random = seededRandom(seed);
  const perRollout = Math.max(1, Math.ceil((2 * kinds.length) / 12));
  for (let attempt = 0; attempt < 200; attempt++) {
    const deck: FaultKind[] = [];
    while (deck.length < n * perRollout) deck.push(...shuffle([...kinds], random));
    deck.length = n * perRollout;
    const hands: FaultKind[][] = Array.from({ length: n }, () => []);
    // The own-engine rollouts first: they can hold only outside-the-engine faults.
    const own = deck.filter((k) => OWN_ENGINE.has(k));
    // The most constrained first: late kinds (they take no disruptive partner that fires earlier),
    // then disruptive ones, then the rest — dealt at random, a rollout of 50 cannot be dealt otherwise.
    const rank = (k: FaultKind) => (LATE[k] ? 0 : DISRUPTIVE.has(k) ? 1 : 2);
    const rest = shuffle(
      deck.filter((k) => !OWN_ENGINE.has(k)),
      random,
    ).sort((a, b) => rank(a) - rank(b));
    own.forEach((kind, i) => hands[i % n]?.push(kind));
    let ok = true;
    for (const kind of rest) {
      const candidates = hands
        .map((hand, i) => ({ hand, i }))
        .filter(
          ({ hand }) =>
            hand.length < perRollout &&
            !hand.includes(kind) &&
            (!hand.some((k) => OWN_ENGINE.has(k)) || OUTSIDE_ENGINE.has(kind)) &&
            compatible(hand, kind),
        );
      if (candidates.length === 0) {
        ok = false;
        break;
      }
      // Late kinds gather in the hands that already wait that long (leaving the others free for
      // disruptive kinds); otherwise the emptiest hand first keeps every hand filled; ties by the seed.
      const waiting = LATE[kind] ? candidates.filter((c) => c.hand.some((k) => LATE[k])) : [];
      const choices = waiting.length > 0 ? waiting : candidates;
      const least = Math.min(...choices.map((c) => c.hand.length));
      const pool = choices.filter((c) => c.hand.length === least);
      pool[Math.floor(random() * pool.length)]?.hand.push(kind);
    }
    if (!ok || hands.some((hand) => new Set(hand).size < hand.length)) continue;
    return hands.map((hand, index) => {
      const pick = (choices: readonly Moment[]): Moment => choices[Math.floor(random() * choices.length)] ?? 'start';
      // The others first; then each disruptive fault fires no earlier than the latest of them, so it
      // does not end the rollout before the others' moments come (the copy, the gate, a second step).
      const moments = new Map<FaultKind, Moment>();
      for (const kind of hand) if (!DISRUPTIVE.has(kind)) moments.set(kind, pick(MOMENTS[kind]));
      const need = Math.max(0, ...[...moments.values()].map((m) => ORDER.indexOf(m)));
      for (const kind of hand) {
        if (!DISRUPTIVE.has(kind)) continue;
        const later = MOMENTS[kind].filter((m) => ORDER.indexOf(m) >= need);
        moments.set(kind, pick(later.length > 0 ? later : MOMENTS[kind].slice(-1)));
      }
      return { index, faults: hand.map((kind) => ({ kind, moment: moments.get(kind) ?? 'start', delayMs: Math.floor(random() * 400) })) };
    });
  }
  throw new Error(`could not deal ${kinds.length} fault kinds over ${n} rollouts (seed ${seed})`);
}
