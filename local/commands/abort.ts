/** The CLI's abort is the shared interrupt path (lambdas/adapters/interrupt.ts). */
export { abortRollout } from '../../lambdas/adapters/interrupt.ts';
