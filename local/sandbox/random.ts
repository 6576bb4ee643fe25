/**
 * A small seeded PRNG (mulberry32) so a demo run with `--seed K` makes the same per-request
 * choices (weighted pick, injected errors, added latency) every time. Not for cryptography.
 */
export type Random = () => number;

/** Uniform in [0, 1), determined by `seed` (any integer; the same seed gives the same sequence). */
export function seededRandom(seed: number): Random {
  let state = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A random seed when the caller gave none (reported back so a run can be repeated). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
