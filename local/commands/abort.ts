/** The CLI's abort is the shared interrupt path (lambdas/adapters/control/interrupt.ts). */
export { abortRollout } from '../../lambdas/adapters/control/interrupt.ts';
