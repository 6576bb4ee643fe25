/**
 * A steady load generator, in-process: `rps` requests per second to one URL over keep-alive
 * connections, bounded in count, time and in-flight requests, until closed. It tallies what users
 * saw: status codes and the `version` of each answer (the apps answer `{ version }`); with `users`, each
 * simulated user keeps its own cookies, as a browser does (session affinity shows).
 */
import { Agent, request } from 'node:http';

export interface LoadOptions {
  url: string;
  /** Requests per second. Default 100 (2 shared cores: keep it modest). */
  rps?: number;
  /** Stop after this many requests. Default: unbounded. */
  maxRequests?: number;
  /** Stop after this long. Default: unbounded. */
  durationMs?: number;
  /** Requests still waiting beyond this are not started (the tick skips). Default 200. */
  maxInFlight?: number;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
  /**
   * Headers sent on a stated share (0..1) of the requests, spread evenly (the A/B demo's users who
   * match: every 1/share-th request). Their answers are tallied apart in `marked`.
   */
  marked?: { share: number; headers: Record<string, string> };
  /**
   * Simulated users, each with its own cookie jar (session affinity): requests go round the users,
   * each sends its cookies and keeps what `Set-Cookie` answers (`Max-Age` ≤ 0 deletes, RFC 6265).
   * Default: no users, no cookies (every request anonymous).
   */
  users?: number;
}

/** What the simulated users saw (only with `users`). */
export interface UserStats {
  total: number;
  /** Users holding a cookie now (the sticky ones under session affinity). */
  holding: number;
  /** Users who saw each version at least once. */
  byVersion: Record<string, number>;
  /** Users who saw more than one version. */
  sawBoth: number;
  /** Answers of another version than the one a user got its cookie with, while it held the cookie: affinity broken. */
  switchedWhileHolding: number;
}

export interface LoadStats {
  sent: number;
  completed: number;
  /** Status code → count; transport errors count under 0. */
  codes: Record<number, number>;
  /** `version` in the answer body → count (answers without one are not counted here). */
  versions: Record<string, number>;
  /** Requests skipped because `maxInFlight` were still waiting. */
  skipped: number;
  /** The requests that carried `marked.headers`: how many, and the `version` of each answer. */
  marked: { sent: number; versions: Record<string, number> };
  users?: UserStats;
}

interface SimulatedUser {
  jar: Map<string, string>;
  versions: Set<string>;
  /** The version of the answer that set the cookie the user holds. */
  stuckTo?: string | undefined;
}

/** Keeps one Set-Cookie in a jar: `name=value` with its attributes; Max-Age ≤ 0 (or an empty value with it) deletes. */
export function keepCookie(jar: Map<string, string>, setCookie: string): 'set' | 'deleted' | 'ignored' {
  const [pair = '', ...attributes] = setCookie.split(';').map((part) => part.trim());
  const at = pair.indexOf('=');
  if (at <= 0) return 'ignored';
  const name = pair.slice(0, at);
  const maxAge = attributes.find((a) => /^max-age=/i.test(a));
  if (maxAge !== undefined && Number(maxAge.slice(8)) <= 0) {
    jar.delete(name);
    return 'deleted';
  }
  jar.set(name, pair.slice(at + 1));
  return 'set';
}

export interface LoadGenerator {
  stats(): LoadStats;
  /** Changes the rate from now on. */
  setRps(rps: number): void;
  /** Resolves when the bound (count or time) is reached and every request has ended. */
  done: Promise<LoadStats>;
  /** Stops sending, waits for the requests in flight; idempotent. */
  close(): Promise<LoadStats>;
}

const TICK_MS = 10;

export function startLoad(options: LoadOptions): LoadGenerator {
  let rps = options.rps ?? 100;
  if (!(rps > 0)) throw new Error(`load: rps must be positive, got ${rps}`);
  const url = new URL(options.url);
  const maxInFlight = options.maxInFlight ?? 200;
  const agent = new Agent({ keepAlive: true, maxSockets: Math.min(maxInFlight, 64) });
  const share = options.marked?.share ?? 0;
  if (!(share >= 0 && share <= 1)) throw new Error(`load: marked.share must be a fraction between 0 and 1, got ${share}`);
  const stats: LoadStats = { sent: 0, completed: 0, codes: {}, versions: {}, skipped: 0, marked: { sent: 0, versions: {} } };
  const users: SimulatedUser[] = Array.from({ length: options.users ?? 0 }, () => ({ jar: new Map(), versions: new Set() }));
  let switchedWhileHolding = 0;
  let inFlight = 0;
  let stopped = false;
  let origin = Date.now();
  let sentAtOrigin = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const settleIfDone = () => {
    if (stopped && inFlight === 0) finish();
  };

  const fire = () => {
    stats.sent += 1;
    inFlight += 1;
    // Evenly spread: this request is marked when the running share crosses a whole request.
    const marked = Math.floor(stats.sent * share) > Math.floor((stats.sent - 1) * share);
    if (marked) stats.marked.sent += 1;
    const user = users.length ? users[(stats.sent - 1) % users.length] : undefined;
    const cookie = user?.jar.size ? [...user.jar].map(([name, value]) => `${name}=${value}`).join('; ') : undefined;
    const headers = { ...(marked && options.marked ? options.marked.headers : {}), ...(cookie ? { cookie } : {}) };
    const count = (code: number) => {
      stats.codes[code] = (stats.codes[code] ?? 0) + 1;
    };
    const ended = () => {
      stats.completed += 1;
      inFlight -= 1;
      settleIfDone();
    };
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        agent,
        timeout: options.timeoutMs ?? 10_000,
        ...(Object.keys(headers).length ? { headers } : {}),
      },
      (res) => {
        const heldBefore = user ? user.jar.size > 0 : false;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          count(res.statusCode ?? 0);
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { version?: unknown };
            if (typeof body.version === 'string') {
              stats.versions[body.version] = (stats.versions[body.version] ?? 0) + 1;
              if (marked) stats.marked.versions[body.version] = (stats.marked.versions[body.version] ?? 0) + 1;
              if (user) {
                user.versions.add(body.version);
                if (heldBefore && user.stuckTo !== undefined && body.version !== user.stuckTo) switchedWhileHolding += 1;
              }
            }
            if (user) {
              for (const line of res.headers['set-cookie'] ?? []) keepCookie(user.jar, line);
              if (!user.jar.size) user.stuckTo = undefined;
              else if (!heldBefore && typeof body.version === 'string') user.stuckTo = body.version;
            }
          } catch {
            // not a JSON answer (the gateway's own 503 text): counted by code only
          }
          ended();
        });
        res.on('error', () => {
          count(0);
          ended();
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => {
      count(0);
      ended();
    });
    req.end();
  };

  const startedAt = Date.now();
  const timer = setInterval(() => {
    if (stopped) return;
    const now = Date.now();
    if (options.durationMs !== undefined && now - startedAt >= options.durationMs) return stop();
    let due = sentAtOrigin + Math.floor(((now - origin) * rps) / 1000) - (stats.sent + stats.skipped);
    if (due > rps) {
      // More than a second behind (a starved event loop): drop the backlog instead of a burst.
      origin = now;
      sentAtOrigin = stats.sent + stats.skipped;
      due = 1;
    }
    for (let i = 0; i < due; i++) {
      if (options.maxRequests !== undefined && stats.sent >= options.maxRequests) return stop();
      if (inFlight >= maxInFlight) stats.skipped += 1;
      else fire();
    }
    if (options.maxRequests !== undefined && stats.sent >= options.maxRequests) stop();
  }, TICK_MS);

  function stop(): void {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    settleIfDone();
  }

  const userStats = (): UserStats => {
    const byVersion: Record<string, number> = {};
    for (const user of users) for (const version of user.versions) byVersion[version] = (byVersion[version] ?? 0) + 1;
    return {
      total: users.length,
      holding: users.filter((u) => u.jar.size > 0).length,
      byVersion,
      sawBoth: users.filter((u) => u.versions.size > 1).length,
      switchedWhileHolding,
    };
  };
  const snapshot = (): LoadStats => ({
    ...stats,
    codes: { ...stats.codes },
    versions: { ...stats.versions },
    marked: { sent: stats.marked.sent, versions: { ...stats.marked.versions } },
    ...(users.length ? { users: userStats() } : {}),
  });
  const done = finished.then(() => {
    agent.destroy();
    return snapshot();
  });
  return {
    stats: snapshot,
    setRps(next) {
      if (!(next > 0)) throw new Error(`load: rps must be positive, got ${next}`);
      origin = Date.now();
      sentAtOrigin = stats.sent + stats.skipped;
      rps = next;
    },
    done,
    close: async () => {
      stop();
      return done;
    },
  };
}
