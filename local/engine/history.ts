/**
 * Execution history in Step Functions' shape (GetExecutionHistory): numbered events with the
 * same types and `…EventDetails` fields AWS uses, built from aws-local-stepfunctions' event log
 * plus the Task events the engine records around each handler call.
 */
export type HistoryEventType =
  | 'ExecutionStarted'
  | 'ExecutionSucceeded'
  | 'ExecutionFailed'
  | 'ExecutionAborted'
  | 'ExecutionTimedOut'
  | `${'Task' | 'Choice' | 'Pass' | 'Wait' | 'Succeed' | 'Map' | 'Parallel'}State${'Entered' | 'Exited'}`
  | 'FailStateEntered'
  | 'TaskStateAborted'
  | 'LambdaFunctionScheduled'
  | 'LambdaFunctionStarted'
  | 'LambdaFunctionSucceeded'
  | 'LambdaFunctionFailed'
  | 'LambdaFunctionTimedOut'
  | 'TaskScheduled'
  | 'TaskStarted'
  | 'TaskSubmitted'
  | 'TaskSucceeded'
  | 'TaskFailed'
  | 'TaskTimedOut';

/** The `…EventDetails` member names of the API's HistoryEvent. */
export type HistoryDetailsKey =
  | 'executionStartedEventDetails'
  | 'executionSucceededEventDetails'
  | 'executionFailedEventDetails'
  | 'executionAbortedEventDetails'
  | 'executionTimedOutEventDetails'
  | 'stateEnteredEventDetails'
  | 'stateExitedEventDetails'
  | 'lambdaFunctionScheduledEventDetails'
  | 'lambdaFunctionSucceededEventDetails'
  | 'lambdaFunctionFailedEventDetails'
  | 'lambdaFunctionTimedOutEventDetails'
  | 'taskScheduledEventDetails'
  | 'taskStartedEventDetails'
  | 'taskSubmittedEventDetails'
  | 'taskSucceededEventDetails'
  | 'taskFailedEventDetails'
  | 'taskTimedOutEventDetails';

export type HistoryDetails = Record<string, string | number | boolean | Record<string, boolean>>;

export type HistoryEvent = {
  id: number;
  previousEventId: number;
  timestamp: Date;
  type: HistoryEventType;
} & Partial<Record<HistoryDetailsKey, HistoryDetails>>;

export class History {
  readonly events: HistoryEvent[] = [];

  add(type: HistoryEventType, detailsKey?: HistoryDetailsKey, details?: HistoryDetails): HistoryEvent {
    const id = this.events.length + 1;
    // Flows here are sequential, so the event that led to this one is the one before it.
    const event: HistoryEvent = { id, previousEventId: id - 1, timestamp: new Date(), type };
    if (detailsKey && details) event[detailsKey] = details;
    this.events.push(event);
    return event;
  }
}

/** JSON text as the API carries data (inputs, outputs and parameters are strings). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value ?? null);
}

export function dataDetails(field: 'input' | 'output', value: unknown): HistoryDetails {
  return { [field]: jsonText(value), [`${field}Details`]: { truncated: false } };
}
