/**
 * The local engine: statemachine/rollout.asl.json, unchanged on disk, executed by
 * aws-local-stepfunctions 3 with the Lambda handlers called in-process. Its methods mirror the
 * Step Functions API (StartExecution, DescribeExecution, ListExecutions, StopExecution,
 * SendTaskSuccess/Failure/Heartbeat, GetExecutionHistory) with AWS's rules and error names, so the
 * HTTP endpoint in sfn-endpoint.ts is a thin translation and @aws-sdk/client-sfn drives both
 * engines through one code path.
 *
 * What differs from aws-local-stepfunctions' defaults, and why:
 * - Lambda substitutions (`${PrepareFunctionArn}`) map to handlers by name; a missing one is a
 *   load error (definition.ts). The TimeoutSecondsPath difference is bridged there too.
 * - `$$.Task.Token` is a getter on the context's `Task` object (the library spreads the context
 *   shallowly, so the getter survives): every read mints a token bound to the execution.
 * - `$$.Execution.Name`/`Id` and `$$.StateMachine` are provided as on AWS.
 * - StopExecution aborts the run (no Catch runs, as on AWS), then calls `onExecutionStopped`,
 *   the local stand-in for the EventBridge rule that triggers the safety net.
 * - Handler errors reach Retry/Catch as Error = the thrown error's `name`, Cause = its message.
 * - After an abort the library would still run a pending retry of the current state; handlers of
 *   a stopped execution are therefore never called (a terminal error ends the run instead).
 * - `arn:aws:states:::states:startExecution.sync:2` starts an execution of a nested local engine
 *   (`nestedMachines`, keyed by the StateMachineArn substitution) and waits for it, as Step
 *   Functions' "Run a Job (.sync)" pattern does: the result is DescribeExecution's answer with
 *   `Output` parsed (the `:2` form); a child that ends other than SUCCEEDED fails the task with
 *   States.TaskFailed and the child's description as Cause. Stopping the parent, or the end of the
 *   Map/Parallel state that started the child (a failed sibling), stops the running children, as
 *   Step Functions does for .sync tasks it cancels (the child's own safety net then runs).
 */
import { randomUUID } from 'node:crypto';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { resolve as resolvePath } from 'node:path';
import { ExecutionError, ExecutionTimeoutError, StateMachine } from 'aws-local-stepfunctions';
import type { RunOptions, StateMachineDefinition } from 'aws-local-stepfunctions';
import type { Context as LambdaContext } from 'aws-lambda';
import { LOCAL_ACCOUNT, LOCAL_REGION, prepareDefinition, readDefinitionFile } from './definition.ts';
import type { LoadedDefinition, LocalTask } from './definition.ts';
import { SfnServiceError, TaskError } from './errors.ts';
import { History, dataDetails, jsonText } from './history.ts';
import type { HistoryDetails, HistoryEvent } from './history.ts';
import { TaskTokens } from './tokens.ts';

export { DefinitionError } from './definition.ts';
export type { HistoryEvent } from './history.ts';

/**
 * An in-process Lambda handler. The payload parameter is `never` so that handlers with their own
 * event type (a middy handler validating with zod) fit without a cast; each validates its input.
 */
export type LocalHandler = (payload: never, context: LambdaContext) => Promise<unknown> | unknown;

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
export type ClosedStatus = Exclude<ExecutionStatus, 'RUNNING' | 'SUCCEEDED'>;

/** What the safety net gets, like EventBridge's "Step Functions Execution Status Change". */
export interface StoppedExecution {
  name: string;
  executionArn: string;
  status: ClosedStatus;
  /** The execution input, parsed. */
  input: unknown;
  error?: string;
  cause?: string;
}

export interface LocalEngineOptions {
  /** Default: statemachine/rollout.asl.json in the working directory. */
  definitionPath?: string;
  /** Keyed by substitution name, e.g. `PrepareFunctionArn`. */
  handlers: Record<string, LocalHandler>;
  /** The safety net, called after an execution ends in one of `safetyNetStatuses` (default: ABORTED, i.e. after StopExecution). */
  onExecutionStopped?: (execution: StoppedExecution) => Promise<void>;
  safetyNetStatuses?: readonly ClosedStatus[];
  /** Default `sluice-rollout`; part of every ARN. */
  stateMachineName?: string;
  /** aws-local-stepfunctions' Retry pause overrides in ms, per state (tests only; default: the ASL's real backoff). */
  retryIntervalOverrides?: Record<string, number | number[]>;
  /** aws-local-stepfunctions' Wait state overrides in ms, per state (tests only; default: the ASL's Seconds). */
  waitTimeOverrides?: Record<string, number>;
  /** State machines this one starts as nested executions (`startExecution.sync:2`), keyed by the StateMachineArn substitution. */
  nestedMachines?: Record<string, LocalEngine>;
}

export interface ExecutionDescription {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  /** JSON text, as the API carries it. */
  input: string;
  output?: string;
  error?: string;
  cause?: string;
}

export type ExecutionListItem = Pick<
  ExecutionDescription,
  'executionArn' | 'stateMachineArn' | 'name' | 'status' | 'startDate' | 'stopDate'
>;

interface Attempt {
  task: LocalTask;
  closed: boolean;
  token?: string;
}

interface ExecutionRecord {
  description: ExecutionDescription;
  parsedInput: unknown;
  history: History;
  /** State entries (the transitions the execution used). */
  transitions: number;
  /** The Task state the run is in (entered, not yet exited), for TaskStateAborted. */
  activeTask?: string;
  /** The latest attempt per Task state (per state: the history lags the run by a few microtasks). */
  attempts: Map<string, Attempt>;
  abort: () => void;
  /** Nested executions this one started that may still run (`startExecution.sync:2`). */
  children: Array<{ engine: LocalEngine; executionArn: string }>;
  /** Settles when the run, its history and any safety net are done. */
  done: Promise<void>;
  safetyNetError?: unknown;
}

/** AWS: 1-80 characters, none of whitespace, brackets, wildcards, these specials, or controls. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what AWS forbids
const INVALID_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;
const MAX_PAYLOAD_BYTES = 256 * 1024;
const MAX_LAMBDA_SECONDS = 900;

export class LocalEngine {
  readonly stateMachineArn: string;
  readonly #stateMachineName: string;
  readonly #loaded: LoadedDefinition;
  readonly #machine: StateMachine;
  readonly #options: LocalEngineOptions;
  readonly #executions = new Map<string, ExecutionRecord>();
  readonly #tokens = new TaskTokens();

  private constructor(loaded: LoadedDefinition, options: LocalEngineOptions) {
    this.#loaded = loaded;
    this.#options = options;
    this.#stateMachineName = options.stateMachineName ?? 'sluice-rollout';
    this.stateMachineArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${this.#stateMachineName}`;
    this.#machine = new StateMachine(loaded.definition as unknown as StateMachineDefinition, {
      validationOptions: { checkPaths: true, checkArn: true },
    });
  }

  /** Loads and checks the definition; throws DefinitionError naming what is wrong. */
  static async create(options: LocalEngineOptions): Promise<LocalEngine> {
    const path = resolvePath(options.definitionPath ?? 'statemachine/rollout.asl.json');
    const document = await readDefinitionFile(path);
    return LocalEngine.fromDocument(document, path, options);
  }

  /** Same, from an already parsed ASL document (`source` names it in errors). */
  static fromDocument(document: unknown, source: string, options: LocalEngineOptions): LocalEngine {
    // On Node < 22 every Task throws "Promise.withResolvers is not a function" and a States.ALL
    // Catch turns that into a rollback that looks real: refuse to start instead.
    if (typeof Promise.withResolvers !== 'function') {
      throw new Error(
        `the local engine needs Node >= 22 (aws-local-stepfunctions uses Promise.withResolvers); this is Node ${process.versions.node}: use npx or node_modules/.bin/node`,
      );
    }
    const loaded = prepareDefinition(
      document,
      source,
      new Set([...Object.keys(options.handlers), ...Object.keys(options.nestedMachines ?? {})]),
    );
    return new LocalEngine(loaded, options);
  }

  /** The definition as the library runs it (substituted, bridged): for tests and diagnostics. */
  get loadedDefinition(): Readonly<Record<string, unknown>> {
    return this.#loaded.definition;
  }

  executionArn(name: string): string {
    return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${this.#stateMachineName}:${name}`;
  }

  /**
   * StartExecution. `input` is JSON text as in the API (other values are serialized). Same name and
   * same input while running returns the running execution; otherwise a used name is
   * ExecutionAlreadyExists.
   */
  startExecution(request: { name?: string; input?: unknown }): { executionArn: string; startDate: Date } {
    const name = request.name ?? randomUUID();
    if (name.length < 1 || name.length > 80 || INVALID_NAME.test(name)) {
      throw new SfnServiceError(
        'InvalidName',
        `Invalid Name: '${name}' (1-80 characters, no whitespace, brackets, wildcards or special characters)`,
      );
    }
    const inputText =
      request.input === undefined ? '{}' : typeof request.input === 'string' ? request.input : JSON.stringify(request.input);
    let parsedInput: unknown;
    try {
      parsedInput = JSON.parse(inputText);
    } catch (error) {
      throw new SfnServiceError('InvalidExecutionInput', `Invalid Execution Input: not JSON: ${(error as Error).message}`);
    }
    if (Buffer.byteLength(inputText) > MAX_PAYLOAD_BYTES)
      throw new SfnServiceError('InvalidExecutionInput', 'Invalid Execution Input: larger than 256 KiB');
    const executionArn = this.executionArn(name);
    const existing = this.#executions.get(executionArn);
    if (existing) {
      const { description } = existing;
      if (description.status === 'RUNNING' && sameJson(description.input, parsedInput))
        return { executionArn, startDate: description.startDate };
      throw new SfnServiceError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const record = this.#launch(name, executionArn, inputText, parsedInput);
    return { executionArn, startDate: record.description.startDate };
  }

  describeExecution(executionArn: string): ExecutionDescription {
    return { ...this.#get(executionArn).description };
  }

  /** ListExecutions: newest first, optionally one status, paged by `nextToken`. */
  listExecutions(request: { statusFilter?: ExecutionStatus; maxResults?: number; nextToken?: string } = {}): {
    executions: ExecutionListItem[];
    nextToken?: string;
  } {
    const all = [...this.#executions.values()]
      .map((record) => record.description)
      .filter((description) => !request.statusFilter || description.status === request.statusFilter)
      .reverse();
    const { page, nextToken } = paginate(all, request.maxResults, request.nextToken);
    const executions = page.map(({ executionArn, stateMachineArn, name, status, startDate, stopDate }) => ({
      executionArn,
      stateMachineArn,
      name,
      status,
      startDate,
      ...(stopDate ? { stopDate } : {}),
    }));
    return nextToken ? { executions, nextToken } : { executions };
  }

  /** StopExecution: no Catch runs; the execution is ABORTED and then the safety net is called. */
  stopExecution(executionArn: string, error?: string, cause?: string): { stopDate: Date } {
    const record = this.#get(executionArn);
    const { description } = record;
    if (description.status === 'RUNNING') this.#abort(record, error, cause);
    return { stopDate: description.stopDate ?? new Date() };
  }

  sendTaskSuccess(taskToken: string, output: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch (error) {
      throw new SfnServiceError('InvalidOutput', `Invalid Output: not JSON: ${(error as Error).message}`);
    }
    this.#tokens.succeed(taskToken, parsed);
  }

  sendTaskFailure(taskToken: string, error?: string, cause?: string): void {
    this.#tokens.fail(taskToken, new TaskError(error ?? '', cause ?? ''));
  }

  sendTaskHeartbeat(taskToken: string): void {
    this.#tokens.heartbeat(taskToken);
  }

  /** GetExecutionHistory, oldest first unless `reverseOrder`, paged by `nextToken`. */
  getExecutionHistory(
    executionArn: string,
    request: { maxResults?: number; nextToken?: string; reverseOrder?: boolean } = {},
  ): { events: HistoryEvent[]; nextToken?: string } {
    const events = [...this.#get(executionArn).history.events];
    if (request.reverseOrder) events.reverse();
    const { page, nextToken } = paginate(events, request.maxResults, request.nextToken);
    return nextToken ? { events: page, nextToken } : { events: page };
  }

  /** State transitions the execution used so far (state entries, retries not counted). */
  transitions(executionArn: string): number {
    return this.#get(executionArn).transitions;
  }

  /** Task tokens an execution is waiting on (tests, diagnostics). */
  pendingTaskTokens(executionArn: string): string[] {
    this.#get(executionArn);
    return this.#tokens.pending(executionArn);
  }

  /**
   * Resolves when the execution has ended, its history is complete and any safety net call has
   * returned. A safety net that threw is reported through `safetyNetError`.
   */
  async waitForExecution(executionArn: string): Promise<ExecutionDescription & { safetyNetError?: unknown }> {
    const record = this.#get(executionArn);
    await record.done;
    return record.safetyNetError === undefined
      ? this.describeExecution(executionArn)
      : { ...this.describeExecution(executionArn), safetyNetError: record.safetyNetError };
  }

  /**
   * Shutting down: stops every running execution as StopExecution does (so the safety net puts
   * traffic on the safe side) and waits for them to end.
   */
  async close(): Promise<void> {
    const running = [...this.#executions.values()].filter((record) => record.description.status === 'RUNNING');
    for (const record of running) this.#abort(record, undefined, 'the local engine was closed');
    await Promise.allSettled(running.map((record) => record.done));
  }

  #abort(record: ExecutionRecord, error: string | undefined, cause: string | undefined): void {
    const { description } = record;
    description.status = 'ABORTED';
    description.stopDate = new Date();
    if (error !== undefined) description.error = error;
    if (cause !== undefined) description.cause = cause;
    for (const attempt of record.attempts.values()) attempt.closed = true;
    record.abort();
    this.#stopChildren(record, `the parent execution ${description.executionArn} was stopped`);
    // Frees a Bake that waits for its token so the run ends now, not at the look interval.
    this.#tokens.closeAll(description.executionArn, { reason: new TaskError('States.Aborted', 'execution stopped', { terminal: true }) });
  }

  #get(executionArn: string): ExecutionRecord {
    if (!/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$/.test(executionArn)) {
      throw new SfnServiceError('InvalidArn', `Invalid Arn: '${executionArn}'`);
    }
    const record = this.#executions.get(executionArn);
    if (!record) throw new SfnServiceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return record;
  }

  #launch(name: string, executionArn: string, inputText: string, parsedInput: unknown): ExecutionRecord {
    const tokens = this.#tokens;
    const description: ExecutionDescription = {
      executionArn,
      stateMachineArn: this.stateMachineArn,
      name,
      status: 'RUNNING',
      startDate: new Date(),
      input: inputText,
    };
    const record: ExecutionRecord = {
      description,
      parsedInput,
      history: new History(),
      transitions: 0,
      attempts: new Map(),
      abort: () => undefined,
      children: [],
      done: Promise.resolve(),
    };
    this.#executions.set(executionArn, record);

    const localHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const task of this.#loaded.tasks.values()) localHandlers[task.stateName] = (input) => this.#runTask(record, task, input);
    const runOptions: RunOptions = {
      noThrowOnAbort: true,
      overrides: {
        taskResourceLocalHandlers: localHandlers as NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers'],
        ...(this.#options.retryIntervalOverrides ? { retryIntervalOverrides: this.#options.retryIntervalOverrides } : {}),
        ...(this.#options.waitTimeOverrides ? { waitTimeOverrides: this.#options.waitTimeOverrides } : {}),
      },
      context: {
        Execution: { Id: executionArn, Name: name, RoleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/sluice-local` },
        StateMachine: { Id: this.stateMachineArn, Name: this.#stateMachineName },
        Task: {
          get Token(): string {
            return tokens.mint(executionArn);
          },
        },
      },
    };
    const run = this.#machine.run(parsedInput as Parameters<StateMachine['run']>[0], runOptions);
    record.abort = run.abort;
    const historyDone = this.#recordHistory(record, run.eventLogs);
    const resultDone = run.result.then(
      (output) => {
        if (description.status !== 'RUNNING') return;
        description.status = 'SUCCEEDED';
        description.stopDate = new Date();
        description.output = jsonText(output);
      },
      (error: unknown) => {
        if (description.status !== 'RUNNING') return;
        description.stopDate = new Date();
        if (error instanceof ExecutionTimeoutError) {
          description.status = 'TIMED_OUT';
          description.error = 'States.Timeout';
          description.cause = 'the execution timed out (state machine TimeoutSeconds)';
          return;
        }
        description.status = 'FAILED';
        const failure = error instanceof ExecutionError && error.cause instanceof Error ? error.cause : error;
        description.error = failure instanceof Error ? failure.name : 'States.Runtime';
        description.cause = failure instanceof Error ? failure.message : String(failure);
      },
    );
    record.done = Promise.all([historyDone, resultDone]).then(() => this.#safetyNet(record));
    return record;
  }

  async #safetyNet(record: ExecutionRecord): Promise<void> {
    const { description } = record;
    const statuses = this.#options.safetyNetStatuses ?? ['ABORTED'];
    const callback = this.#options.onExecutionStopped;
    if (!callback || description.status === 'RUNNING' || description.status === 'SUCCEEDED' || !statuses.includes(description.status))
      return;
    try {
      await callback({
        name: description.name,
        executionArn: description.executionArn,
        status: description.status,
        input: record.parsedInput,
        ...(description.error === undefined ? {} : { error: description.error }),
        ...(description.cause === undefined ? {} : { cause: description.cause }),
      });
    } catch (error) {
      record.safetyNetError = error;
      console.error(
        `local engine: safety net for ${description.executionArn} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  /** Turns aws-local-stepfunctions' event log into Step Functions history events. */
  async #recordHistory(record: ExecutionRecord, eventLogs: ReturnType<StateMachine['run']>['eventLogs']): Promise<void> {
    const { history, description } = record;
    for await (const event of eventLogs) {
      switch (event.type) {
        case 'ExecutionStarted':
          history.add('ExecutionStarted', 'executionStartedEventDetails', {
            ...dataDetails('input', event.input),
            roleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/sluice-local`,
          });
          break;
        case 'StateEntered':
          record.transitions += 1;
          if (event.state.type === 'Task') record.activeTask = event.state.name;
          history.add(`${event.state.type}StateEntered`, 'stateEnteredEventDetails', {
            name: event.state.name,
            ...dataDetails('input', event.state.input),
          });
          break;
        case 'StateExited':
          if (event.state.type === 'Fail') break;
          if (event.state.type === 'Task') delete record.activeTask;
          history.add(`${event.state.type}StateExited`, 'stateExitedEventDetails', {
            name: event.state.name,
            ...dataDetails('output', event.state.output),
          });
          break;
        case 'StateFailed': {
          // A Map/Parallel state of the execution itself failed: its nested executions still running are cancelled.
          if (isBranching(event.state.type) && (event as { index?: number }).index === undefined)
            this.#stopChildren(record, `the state ${event.state.name} that started it failed`);
          // A handler's own failure is recorded by #runTask; the library's Task timeout only shows here.
          const attempt = record.attempts.get(event.state.name);
          if (event.Error !== 'States.Timeout' || event.state.type !== 'Task' || !attempt || attempt.closed) break;
          attempt.closed = true;
          // Rejecting the pending token lets the (already lost) task promise finish instead of leaking.
          if (attempt.token) this.#tokens.close(attempt.token, new TaskError('States.Timeout', 'task timed out', { terminal: true }));
          const details = { error: 'States.Timeout', cause: String(event.Cause ?? '') };
          if (attempt.task.kind === 'lambda') history.add('LambdaFunctionTimedOut', 'lambdaFunctionTimedOutEventDetails', details);
          else history.add('TaskTimedOut', 'taskTimedOutEventDetails', { ...taskResource(attempt.task), ...details });
          break;
        }
        case 'ExecutionSucceeded':
          history.add('ExecutionSucceeded', 'executionSucceededEventDetails', dataDetails('output', event.output));
          break;
        case 'ExecutionFailed':
          history.add('ExecutionFailed', 'executionFailedEventDetails', { error: event.Error, cause: String(event.Cause ?? '') });
          break;
        case 'ExecutionAborted':
          if (record.activeTask) history.add('TaskStateAborted', 'stateExitedEventDetails', { name: record.activeTask });
          history.add('ExecutionAborted', 'executionAbortedEventDetails', {
            ...(description.error === undefined ? {} : { error: description.error }),
            ...(description.cause === undefined ? {} : { cause: description.cause }),
          });
          break;
        case 'ExecutionTimeout':
          history.add('ExecutionTimedOut', 'executionTimedOutEventDetails', { error: 'States.Timeout' });
          break;
        default:
          break; // StateRetried/StateCaught have no event of their own in AWS; Map/Parallel iterations are not used.
      }
    }
  }

  /** One attempt of a Task: the handler call, its history events, and for `.waitForTaskToken` the token wait. */
  async #runTask(record: ExecutionRecord, task: LocalTask, parameters: unknown): Promise<unknown> {
    const stopped = () => new TaskError('States.Aborted', 'execution stopped', { terminal: true });
    if (record.description.status !== 'RUNNING') throw stopped();
    // Claim the token at once: from here on SendTaskSuccess/Failure may arrive (even before the Lambda returns).
    const claim =
      task.kind === 'invoke.waitForTaskToken' ? this.#tokens.claim(record.description.executionArn, task.stateName, parameters) : undefined;
    const attempt: Attempt = { task, closed: false, ...(claim ? { token: claim.token } : {}) };
    record.attempts.set(task.stateName, attempt);
    // Let the history catch up with the library's StateEntered/StateRetried before this attempt's events.
    await nextMacrotask();
    if (record.description.status !== 'RUNNING') throw stopped();
    const { history } = record;
    const add = (...args: Parameters<History['add']>): void => {
      if (!attempt.closed) history.add(...args);
    };
    const timeoutSeconds = task.timeoutSeconds ?? numberAt(parameters, task.timeoutSecondsPath);
    if (task.kind === 'startExecution.sync:2') {
      try {
        return await this.#runNested(record, task, parameters, add);
      } finally {
        attempt.closed = true;
      }
    }
    const payload = task.kind === 'lambda' ? parameters : (parameters as { Payload?: unknown } | null)?.Payload;
    try {
      if (task.kind === 'lambda') {
        add('LambdaFunctionScheduled', 'lambdaFunctionScheduledEventDetails', {
          resource: task.functionArn,
          ...dataDetails('input', payload),
          ...(timeoutSeconds ? { timeoutInSeconds: timeoutSeconds } : {}),
        });
        add('LambdaFunctionStarted');
        const result = await this.#invoke(task, payload, timeoutSeconds);
        add('LambdaFunctionSucceeded', 'lambdaFunctionSucceededEventDetails', dataDetails('output', result));
        return result;
      }
      add('TaskScheduled', 'taskScheduledEventDetails', {
        ...taskResource(task),
        region: LOCAL_REGION,
        parameters: jsonText(parameters),
        ...(timeoutSeconds ? { timeoutInSeconds: timeoutSeconds } : {}),
      });
      add('TaskStarted', 'taskStartedEventDetails', taskResource(task));
      const invoked = this.#invoke(task, payload, timeoutSeconds).then((result) => ({
        ExecutedVersion: '$LATEST',
        Payload: result,
        StatusCode: 200,
      }));
      if (!claim) {
        const lambdaResult = await invoked;
        add('TaskSucceeded', 'taskSucceededEventDetails', { ...taskResource(task), ...dataDetails('output', lambdaResult) });
        return lambdaResult;
      }
      // As on AWS the token may be settled while the Lambda still runs; a Lambda error fails the task.
      const submitted = invoked.then((lambdaResult) => {
        add('TaskSubmitted', 'taskSubmittedEventDetails', { ...taskResource(task), ...dataDetails('output', lambdaResult) });
        return claim.settled;
      });
      const output = await Promise.race([claim.settled, submitted]);
      add('TaskSucceeded', 'taskSucceededEventDetails', { ...taskResource(task), ...dataDetails('output', output) });
      return output;
    } catch (thrown) {
      const error = TaskError.fromThrown(thrown);
      const details: HistoryDetails = { error: error.name, cause: error.message };
      if (task.kind === 'lambda') add('LambdaFunctionFailed', 'lambdaFunctionFailedEventDetails', details);
      else add('TaskFailed', 'taskFailedEventDetails', { ...taskResource(task), ...details });
      throw error;
    } finally {
      attempt.closed = true;
      if (claim) this.#tokens.close(claim.token);
    }
  }

  /** Stops the running nested executions of `record` (each one's own safety net then runs). */
  #stopChildren(record: ExecutionRecord, cause: string): void {
    for (const child of record.children.splice(0)) {
      if (child.engine.describeExecution(child.executionArn).status === 'RUNNING')
        child.engine.stopExecution(child.executionArn, undefined, cause);
    }
  }

  /** `startExecution.sync:2`: start the nested execution, wait for its end, answer as Step Functions does. */
  async #runNested(
    record: ExecutionRecord,
    task: LocalTask,
    parameters: unknown,
    add: (...args: Parameters<History['add']>) => void,
  ): Promise<unknown> {
    const resource = { resourceType: 'states', resource: 'startExecution.sync:2' };
    const engine = this.#options.nestedMachines?.[task.handlerName];
    const request = (parameters ?? {}) as { Name?: unknown; Input?: unknown };
    add('TaskScheduled', 'taskScheduledEventDetails', { ...resource, region: LOCAL_REGION, parameters: jsonText(parameters) });
    try {
      if (!engine)
        throw new TaskError('StepFunctions.StateMachineDoesNotExistException', `no nested local engine for \${${task.handlerName}}`);
      add('TaskStarted', 'taskStartedEventDetails', resource);
      let started: { executionArn: string; startDate: Date };
      try {
        started = engine.startExecution({
          ...(typeof request.Name === 'string' ? { name: request.Name } : {}),
          ...(request.Input === undefined ? {} : { input: request.Input }),
        });
      } catch (error) {
        // Service errors reach Retry/Catch as StepFunctions.<Code>Exception, as for any AWS SDK integration.
        const code = error instanceof SfnServiceError ? error.code : 'SdkClient';
        throw new TaskError(`StepFunctions.${code.endsWith('Exception') ? code : `${code}Exception`}`, (error as Error).message);
      }
      record.children.push({ engine, executionArn: started.executionArn });
      add('TaskSubmitted', 'taskSubmittedEventDetails', {
        ...resource,
        output: jsonText({ ExecutionArn: started.executionArn, StartDate: started.startDate.getTime() }),
      });
      const ended = await engine.waitForExecution(started.executionArn);
      if (record.description.status !== 'RUNNING') throw new TaskError('States.Aborted', 'execution stopped', { terminal: true });
      const described = {
        ExecutionArn: ended.executionArn,
        StateMachineArn: ended.stateMachineArn,
        Name: ended.name,
        Status: ended.status,
        StartDate: ended.startDate.getTime(),
        ...(ended.stopDate ? { StopDate: ended.stopDate.getTime() } : {}),
        Input: JSON.parse(ended.input) as unknown,
        InputDetails: { Included: true },
        ...(ended.error === undefined ? {} : { Error: ended.error }),
        ...(ended.cause === undefined ? {} : { Cause: ended.cause }),
      };
      if (ended.status !== 'SUCCEEDED') throw new TaskError('States.TaskFailed', JSON.stringify(described));
      const output = { ...described, Output: JSON.parse(ended.output ?? 'null') as unknown, OutputDetails: { Included: true } };
      add('TaskSucceeded', 'taskSucceededEventDetails', { ...resource, ...dataDetails('output', output) });
      return output;
    } catch (thrown) {
      const error = TaskError.fromThrown(thrown);
      add('TaskFailed', 'taskFailedEventDetails', { ...resource, error: error.name, cause: error.message });
      throw error;
    }
  }

  /** Calls the handler as Lambda would: a copy of the payload in, JSON out, errors by name. */
  async #invoke(task: LocalTask, payload: unknown, timeoutSeconds: number | undefined): Promise<unknown> {
    const handler = this.#options.handlers[task.handlerName];
    if (!handler) throw new TaskError('Lambda.ResourceNotFoundException', `no local handler for \${${task.handlerName}}`);
    const functionName = `sluice-local-${task.handlerName}`;
    const deadline = Date.now() + Math.min(timeoutSeconds ?? MAX_LAMBDA_SECONDS, MAX_LAMBDA_SECONDS) * 1000;
    const context: LambdaContext = {
      callbackWaitsForEmptyEventLoop: true,
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: task.functionArn,
      memoryLimitInMB: '1024',
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: 'local',
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
    const result = await handler(structuredClone(payload) as never, context);
    const text = jsonText(result);
    if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES) {
      throw new TaskError('States.DataLimitExceeded', `${task.stateName}: the result of ${functionName} is larger than 256 KiB`, {
        terminal: true,
      });
    }
    return JSON.parse(text) as unknown;
  }
}

function isBranching(type: string): boolean {
  return type === 'Map' || type === 'Parallel';
}

function taskResource(task: LocalTask): HistoryDetails {
  return { resourceType: 'lambda', resource: task.kind };
}

function sameJson(text: string, value: unknown): boolean {
  try {
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(value);
  } catch {
    return false;
  }
}

/** Reads `$.a.b` from a JSON value (the bridged TimeoutSecondsPath; simple dotted paths only). */
function numberAt(value: unknown, path: string | undefined): number | undefined {
  if (!path) return undefined;
  let current: unknown = value;
  for (const key of path.split('.').slice(1)) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return typeof current === 'number' ? current : undefined;
}

function paginate<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined): { page: T[]; nextToken?: string } {
  let start = 0;
  if (nextToken !== undefined) {
    start = Number.parseInt(Buffer.from(nextToken, 'base64url').toString('utf8'), 10);
    if (!Number.isInteger(start) || start < 0 || start > items.length)
      throw new SfnServiceError('ValidationException', 'Invalid nextToken');
  }
  const size = maxResults && maxResults > 0 ? Math.min(maxResults, 1000) : 100;
  const page = items.slice(start, start + size);
  const end = start + page.length;
  return end < items.length ? { page, nextToken: Buffer.from(String(end)).toString('base64url') } : { page };
}
