/** What the Slack bot's two Lambdas need: the seams the AWS wiring (lambdas/wiring/aws-slack.ts) and the local runtime fill. */
import type { SluiceEvent } from '../../core/records.ts';
import type { AckDeps, FollowUp } from './ack.ts';
import type { FleetEnded } from './notifier.ts';

export interface SlackHandlerDeps {
  ack: AckDeps;
  signingSecret: string;
  /** Runs Slack-bound work after the ack (never awaited by the ack). */
  afterAck(followUps: FollowUp[]): Promise<void>;
  /**
   * Wait for `afterAck` before answering. In Lambda it is a ~30 ms asynchronous invoke of the worker,
   * and a frozen process would drop it once the response returns; in-process (locally) it is the
   * Slack work itself, which must not delay the ack.
   */
  awaitAfterAck?: boolean;
}

export interface WorkerDeps {
  notify(event: SluiceEvent): Promise<void>;
  /** A fleet execution ended (its Step Functions status change): the fleet's thread says how. */
  fleetEnded?(ended: FleetEnded): Promise<void>;
  send?: typeof fetch;
}
