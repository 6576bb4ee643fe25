/**
 * Loads statemachine/rollout.asl.json for the local engine without changing the file: the
 * `${Name}` substitutions CDK fills in AWS are mapped to in-process handlers, and the one place
 * where aws-local-stepfunctions reads the ASL differently from AWS is bridged in memory.
 *
 * The TimeoutSecondsPath bridge: AWS resolves a Task's `TimeoutSecondsPath` against
 * the state *input*; aws-local-stepfunctions 3 resolves it against the *Parameters result*. So
 * `"TimeoutSecondsPath": "$.run.bakeSeconds"` is right on AWS and fails locally with "does not
 * point to a value". The file stays AWS-correct; when loading, we look for a Parameters field that
 * copies the same path (`"bakeSeconds.$": "$.run.bakeSeconds"`, top level or under `Payload`) and
 * point the in-memory TimeoutSecondsPath at that field (`$.Payload.bakeSeconds`), which holds the
 * same number in both engines. Without such a field we refuse to load rather than guess.
 */
import { readFile } from 'node:fs/promises';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';

/** Longest timer Node accepts (2^31-1 ms); longer ones fire at once, so timeouts are capped to it. */
const MAX_TIMER_SECONDS = Math.floor(2_147_483_647 / 1000);

/** A Lambda the state machine calls, in one of the three forms Step Functions offers. */
export type TaskKind =
  /** `"Resource": "${XFunctionArn}"`: the payload is the Parameters result, the result is the Lambda's. */
  | 'lambda'
  /** `arn:aws:states:::lambda:invoke`: Parameters carry FunctionName and Payload; the result is wrapped. */
  | 'invoke'
  /** `arn:aws:states:::lambda:invoke.waitForTaskToken`: the Lambda stores the token; SendTask* settles. */
  | 'invoke.waitForTaskToken'
  /**
   * `arn:aws:states:::states:startExecution.sync:2`: a nested execution of another state machine
   * (Parameters.StateMachineArn is a `${Name}` substitution naming a nested local engine).
   */
  | 'startExecution.sync:2';

export interface LocalTask {
  stateName: string;
  kind: TaskKind;
  /** The substitution name that selects the handler, e.g. `PrepareFunctionArn`. */
  handlerName: string;
  /** The ARN the substitution stands for locally (what history events show as the resource). */
  functionArn: string;
  /** Static TimeoutSeconds, when the state has one. */
  timeoutSeconds?: number;
  /** The in-memory TimeoutSecondsPath (already bridged to the Parameters result). */
  timeoutSecondsPath?: string;
}

export interface LoadedDefinition {
  /** The definition as aws-local-stepfunctions gets it (substituted, bridged). */
  definition: Record<string, unknown>;
  tasks: Map<string, LocalTask>;
  /** Every substitution name a Task uses. */
  handlerNames: Set<string>;
}

export class DefinitionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DefinitionError';
  }
}

const SUBSTITUTION = /^\$\{([A-Za-z0-9_]+)\}$/;
const INVOKE = 'arn:aws:states:::lambda:invoke';
const INVOKE_WAIT = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
const START_SYNC2 = 'arn:aws:states:::states:startExecution.sync:2';

export function localFunctionArn(handlerName: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:sluice-local-${handlerName}`;
}

export async function readDefinitionFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new DefinitionError(`state machine definition ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, {
      cause: error,
    });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DefinitionError(`state machine definition ${path}: not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Prepares an ASL document (as parsed from the file) for the local engine. `source` names the
 * file in errors. Throws DefinitionError naming the state and what is wrong.
 */
export function prepareDefinition(document: unknown, source: string, availableHandlers: ReadonlySet<string>): LoadedDefinition {
  if (!isObject(document) || !isObject(document.States)) throw new DefinitionError(`${source}: expected an ASL document with "States"`);
  if (document.QueryLanguage === 'JSONata')
    throw new DefinitionError(
      `${source}: JSONata is not supported by the local engine (it would be ignored silently); keep the ASL in JSONPath`,
    );
  const definition = structuredClone(document);
  const tasks = new Map<string, LocalTask>();
  const handlerNames = new Set<string>();
  if (typeof definition.TimeoutSeconds === 'number') definition.TimeoutSeconds = Math.min(definition.TimeoutSeconds, MAX_TIMER_SECONDS);
  prepareStates(definition, source, tasks, handlerNames);
  const missing = [...handlerNames].filter((name) => !availableHandlers.has(name));
  if (missing.length > 0) {
    throw new DefinitionError(
      `${source}: no local handler for ${missing.map((name) => `\${${name}}`).join(', ')} (pass handlers keyed by the substitution name)`,
    );
  }
  return { definition, tasks, handlerNames };
}

/** Walks one States map (and the nested ones of Map and Parallel states). */
function prepareStates(machine: Record<string, unknown>, source: string, tasks: Map<string, LocalTask>, handlerNames: Set<string>): void {
  const states = machine.States;
  if (!isObject(states)) return;
  for (const [stateName, state] of Object.entries(states)) {
    if (!isObject(state)) continue;
    if (state.Type === 'Map') {
      for (const key of ['Iterator', 'ItemProcessor']) if (isObject(state[key])) prepareStates(state[key], source, tasks, handlerNames);
    }
    if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
      for (const branch of state.Branches) if (isObject(branch)) prepareStates(branch, source, tasks, handlerNames);
    }
    if (state.Type !== 'Task') continue;
    if (tasks.has(stateName))
      throw new DefinitionError(`${source}: Task name "${stateName}" is used twice; the local engine maps handlers by state name`);
    const task = prepareTask(stateName, state, source);
    tasks.set(stateName, task);
    handlerNames.add(task.handlerName);
  }
}

function prepareTask(stateName: string, state: Record<string, unknown>, source: string): LocalTask {
  const where = `${source}: Task "${stateName}"`;
  const resource = state.Resource;
  if (typeof resource !== 'string') throw new DefinitionError(`${where} has no Resource`);
  let kind: TaskKind;
  let handlerName: string | undefined;
  const direct = SUBSTITUTION.exec(resource);
  if (direct) {
    kind = 'lambda';
    handlerName = direct[1];
  } else if (resource === INVOKE || resource === INVOKE_WAIT) {
    kind = resource === INVOKE ? 'invoke' : 'invoke.waitForTaskToken';
    const parameters = state.Parameters;
    const functionName = isObject(parameters) ? parameters.FunctionName : undefined;
    handlerName = typeof functionName === 'string' ? SUBSTITUTION.exec(functionName)?.[1] : undefined;
    if (!handlerName || !isObject(parameters))
      throw new DefinitionError(`${where}: Parameters.FunctionName must be a \${Name} substitution for the local engine`);
    parameters.FunctionName = localFunctionArn(handlerName);
  } else if (resource === START_SYNC2) {
    kind = 'startExecution.sync:2';
    const parameters = state.Parameters;
    const machine = isObject(parameters) ? parameters.StateMachineArn : undefined;
    handlerName = typeof machine === 'string' ? SUBSTITUTION.exec(machine)?.[1] : undefined;
    if (!handlerName)
      throw new DefinitionError(`${where}: Parameters.StateMachineArn must be a \${Name} substitution for the local engine`);
  } else {
    throw new DefinitionError(
      `${where}: Resource ${resource} is not supported by the local engine (use a \${Name} Lambda substitution, ${INVOKE}[.waitForTaskToken] or ${START_SYNC2})`,
    );
  }
  if (!handlerName) throw new DefinitionError(`${where}: cannot tell which handler runs it`);
  if (kind === 'lambda') state.Resource = localFunctionArn(handlerName);

  const task: LocalTask = { stateName, kind, handlerName, functionArn: localFunctionArn(handlerName) };
  if (typeof state.TimeoutSeconds === 'number') {
    task.timeoutSeconds = Math.min(state.TimeoutSeconds, MAX_TIMER_SECONDS);
    state.TimeoutSeconds = task.timeoutSeconds;
  } else if (typeof state.TimeoutSecondsPath === 'string') {
    if ('InputPath' in state)
      throw new DefinitionError(`${where}: TimeoutSecondsPath together with InputPath cannot be bridged for the local engine`);
    task.timeoutSecondsPath = bridgeTimeoutPath(state.TimeoutSecondsPath, state.Parameters, where);
    state.TimeoutSecondsPath = task.timeoutSecondsPath;
  } else {
    // aws-local-stepfunctions would time the task out after 60 s where AWS waits a year: refuse
    // the difference instead of hiding it (the project sets TimeoutSeconds on every Task).
    throw new DefinitionError(
      `${where} has neither TimeoutSeconds nor TimeoutSecondsPath (the local engine's default of 60 s differs from AWS)`,
    );
  }
  return task;
}

/** `$.X` on the state input -> the Parameters field that copies `$.X` (see the file comment). */
function bridgeTimeoutPath(path: string, parameters: unknown, where: string): string {
  const candidates: Array<[string, unknown]> = [['$', parameters]];
  if (isObject(parameters)) candidates.push(['$.Payload', parameters.Payload]);
  for (const [prefix, template] of candidates) {
    if (!isObject(template)) continue;
    for (const [key, value] of Object.entries(template)) {
      if (key.endsWith('.$') && value === path) {
        const field = key.slice(0, -2);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field)) continue;
        return `${prefix}.${field}`;
      }
    }
  }
  throw new DefinitionError(
    `${where}: TimeoutSecondsPath ${path} cannot run locally: aws-local-stepfunctions resolves it against the Parameters result, ` +
      `not the state input as AWS does. Add a Parameters (or Parameters.Payload) field "<name>.$": "${path}" so the local engine can read the same value`,
  );
}
