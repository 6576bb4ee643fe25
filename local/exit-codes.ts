/** Exit codes everywhere. */
export const EXIT = {
  /** success / promoted */
  ok: 0,
  /** unexpected error (the summary still says where traffic is) */
  error: 1,
  /** invalid input, usage, or refused before any change */
  invalid: 2,
  /** rolled back: analysis failed, deadline passed, or an error after traffic moved */
  rolledBack: 3,
  /** aborted by a person */
  aborted: 4,
  /** promotion failed with traffic held on the canary */
  promotionFailed: 5,
} as const;
