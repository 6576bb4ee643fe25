/**
 * The Step Functions API errors the local engine raises. `name` is the API's error code, so the
 * HTTP endpoint can send it as `__type` and @aws-sdk/client-sfn raises its own exception class
 * (ExecutionAlreadyExists, TaskDoesNotExist, …); in-process callers can test `error.name` the same
 * way they would test the SDK's exceptions.
 */
export type SfnErrorCode =
  | 'ExecutionAlreadyExists'
  | 'ExecutionDoesNotExist'
  | 'StateMachineDoesNotExist'
  | 'InvalidArn'
  | 'InvalidName'
  | 'InvalidExecutionInput'
  | 'InvalidOutput'
  | 'InvalidToken'
  | 'TaskDoesNotExist'
  | 'TaskTimedOut'
  | 'ValidationException';

export class SfnServiceError extends Error {
  readonly code: SfnErrorCode;
  constructor(code: SfnErrorCode, message: string) {
    super(message);
    this.name = code;
    this.code = code;
  }
}

/**
 * An error thrown into aws-local-stepfunctions with the fields Step Functions matches: `name` is
 * the Error (what Retry/Catch `ErrorEquals` compare), `message` the Cause. Built fresh so that a
 * handler error's `cause` chain (an Error object) never lands in the execution's Cause.
 */
export class TaskError extends Error {
  /** aws-local-stepfunctions reads these two; false = not matched by any Retry/Catch. */
  readonly isRetryable: boolean;
  readonly isCatchable: boolean;
  constructor(error: string, cause: string, options: { terminal?: boolean } = {}) {
    super(cause);
    this.name = error;
    this.isRetryable = !options.terminal;
    this.isCatchable = !options.terminal;
  }

  /** Lambda's view of a thrown value: errorType = the error's name, errorMessage = its message. */
  static fromThrown(thrown: unknown): TaskError {
    if (thrown instanceof TaskError) return thrown;
    if (thrown instanceof Error) return new TaskError(thrown.name || 'Error', thrown.message);
    return new TaskError('Error', typeof thrown === 'string' ? thrown : (JSON.stringify(thrown) ?? String(thrown)));
  }
}
