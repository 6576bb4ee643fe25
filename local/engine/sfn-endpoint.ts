/**
 * A small HTTP endpoint that speaks the Step Functions API (AWS JSON 1.0 protocol: `POST /`,
 * `X-Amz-Target: AWSStepFunctions.<Operation>`, JSON bodies, dates as epoch seconds, errors as
 * HTTP 400 with `__type`) over the local engine. @aws-sdk/client-sfn with only its endpoint
 * changed therefore drives the local engine exactly as it drives AWS, including its exception
 * classes (ExecutionAlreadyExists, TaskDoesNotExist, InvalidToken, …).
 *
 * Also here: how another process (`sluice abort`) finds a running local engine — SLUICE_ENDPOINT,
 * else the state file `.sluice/engine.json` the engine's process writes — and an SDK client for it.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SfnServiceError } from './errors.ts';
import type { ExecutionStatus, LocalEngine } from './engine.ts';

export interface SfnEndpoint {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  close(): Promise<void>;
}

type Body = Record<string, unknown>;
type Operation = (engine: LocalEngine, body: Body) => unknown;

const MAX_BODY_BYTES = 1024 * 1024;
const STATUSES: readonly ExecutionStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

/** The operations, request fields and response shapes of the Step Functions API. */
const OPERATIONS: Record<string, Operation> = {
  StartExecution: (engine, body) => {
    checkStateMachine(engine, required(body, 'stateMachineArn'));
    const result = engine.startExecution({
      ...optional(body, 'name', (name) => ({ name: String(name) })),
      input: optionalString(body, 'input') ?? '{}',
    });
    return { executionArn: result.executionArn, startDate: epochSeconds(result.startDate) };
  },
  DescribeExecution: (engine, body) => {
    const { startDate, stopDate, ...rest } = engine.describeExecution(required(body, 'executionArn'));
    return {
      ...rest,
      inputDetails: { included: true },
      ...(rest.output === undefined ? {} : { outputDetails: { included: true } }),
      startDate: epochSeconds(startDate),
      ...(stopDate ? { stopDate: epochSeconds(stopDate) } : {}),
      redriveCount: 0,
      redriveStatus: 'NOT_REDRIVABLE',
    };
  },
  ListExecutions: (engine, body) => {
    checkStateMachine(engine, required(body, 'stateMachineArn'));
    const statusFilter = optionalString(body, 'statusFilter');
    if (statusFilter !== undefined && !STATUSES.includes(statusFilter as ExecutionStatus)) {
      throw new SfnServiceError('ValidationException', `statusFilter must be one of ${STATUSES.join(', ')}`);
    }
    const result = engine.listExecutions({
      ...(statusFilter ? { statusFilter: statusFilter as ExecutionStatus } : {}),
      ...optional(body, 'maxResults', (maxResults) => ({ maxResults: Number(maxResults) })),
      ...optional(body, 'nextToken', (nextToken) => ({ nextToken: String(nextToken) })),
    });
    return {
      executions: result.executions.map(({ startDate, stopDate, ...rest }) => ({
        ...rest,
        startDate: epochSeconds(startDate),
        ...(stopDate ? { stopDate: epochSeconds(stopDate) } : {}),
      })),
      ...(result.nextToken ? { nextToken: result.nextToken } : {}),
    };
  },
  StopExecution: (engine, body) => {
    const { stopDate } = engine.stopExecution(required(body, 'executionArn'), optionalString(body, 'error'), optionalString(body, 'cause'));
    return { stopDate: epochSeconds(stopDate) };
  },
  SendTaskSuccess: (engine, body) => {
    engine.sendTaskSuccess(required(body, 'taskToken'), required(body, 'output'));
    return {};
  },
  SendTaskFailure: (engine, body) => {
    engine.sendTaskFailure(required(body, 'taskToken'), optionalString(body, 'error'), optionalString(body, 'cause'));
    return {};
  },
  SendTaskHeartbeat: (engine, body) => {
    engine.sendTaskHeartbeat(required(body, 'taskToken'));
    return {};
  },
  GetExecutionHistory: (engine, body) => {
    const result = engine.getExecutionHistory(required(body, 'executionArn'), {
      ...optional(body, 'maxResults', (maxResults) => ({ maxResults: Number(maxResults) })),
      ...optional(body, 'nextToken', (nextToken) => ({ nextToken: String(nextToken) })),
      ...optional(body, 'reverseOrder', (reverseOrder) => ({ reverseOrder: reverseOrder === true })),
    });
    const includeData = body.includeExecutionData !== false;
    return {
      events: result.events.map(({ timestamp, ...event }) => ({
        ...(includeData ? event : withoutData(event)),
        timestamp: epochSeconds(timestamp),
      })),
      ...(result.nextToken ? { nextToken: result.nextToken } : {}),
    };
  },
};

/** Starts the endpoint on loopback (port 0 = a free port). */
export async function startSfnEndpoint(engine: LocalEngine, options: { port?: number; host?: string } = {}): Promise<SfnEndpoint> {
  const server = createServer((request, response) => {
    handle(engine, request, response).catch((error: unknown) => {
      // Only reached when writing the response itself failed (client gone): nothing left to answer.
      console.error(`local SFN endpoint: ${error instanceof Error ? error.message : String(error)}`);
      response.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // The SDK keeps connections alive; without this close() waits for them to time out.
        server.closeAllConnections();
      }),
  };
}

async function handle(engine: LocalEngine, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const requestId = randomUUID();
  const send = (status: number, payload: unknown, errorType?: string) => {
    const text = JSON.stringify(payload);
    response.writeHead(status, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': requestId,
      ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
    });
    response.end(text);
  };
  const fail = (status: number, type: string, message: string) => send(status, { __type: type, message }, type);

  const target = request.headers['x-amz-target'];
  const operationName =
    typeof target === 'string' && target.startsWith('AWSStepFunctions.') ? target.slice('AWSStepFunctions.'.length) : undefined;
  const operation = operationName ? OPERATIONS[operationName] : undefined;
  if (request.method !== 'POST' || !operation) {
    await drain(request);
    return fail(
      400,
      'UnknownOperationException',
      `${request.method} ${String(target ?? '(no X-Amz-Target)')} is not an operation this local Step Functions endpoint supports`,
    );
  }
  let body: Body;
  try {
    const text = await readBody(request);
    const parsed: unknown = text.trim() === '' ? {} : JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the body is not a JSON object');
    body = parsed as Body;
  } catch (error) {
    return fail(400, 'SerializationException', `${operationName}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    send(200, operation(engine, body));
  } catch (error) {
    if (error instanceof SfnServiceError) return fail(400, error.code, error.message);
    fail(
      500,
      'InternalServerError',
      `${operationName} failed in the local engine: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body larger than 1 MiB');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function drain(request: IncomingMessage): Promise<void> {
  for await (const _chunk of request) {
    // discard
  }
}

function required(body: Body, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '')
    throw new SfnServiceError('ValidationException', `1 validation error detected: '${field}' must not be null`);
  return value;
}

function optionalString(body: Body, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new SfnServiceError('ValidationException', `'${field}' must be a string`);
  return value;
}

function optional<T extends object>(body: Body, field: string, wrap: (value: unknown) => T): T | Record<string, never> {
  const value = body[field];
  return value === undefined || value === null ? {} : wrap(value);
}

function checkStateMachine(engine: LocalEngine, stateMachineArn: string): void {
  if (!/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[^:]+$/.test(stateMachineArn)) {
    throw new SfnServiceError('InvalidArn', `Invalid Arn: '${stateMachineArn}'`);
  }
  if (stateMachineArn !== engine.stateMachineArn) {
    throw new SfnServiceError(
      'StateMachineDoesNotExist',
      `State Machine Does Not Exist: '${stateMachineArn}' (the local engine runs ${engine.stateMachineArn})`,
    );
  }
}

/** includeExecutionData=false: the events without inputs, outputs and parameters. */
function withoutData(event: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(event).map(([key, value]) => {
      if (!key.endsWith('EventDetails') || value === null || typeof value !== 'object') return [key, value];
      const details = Object.fromEntries(
        Object.entries(value).filter(([name]) => !['input', 'output', 'parameters', 'inputDetails', 'outputDetails'].includes(name)),
      );
      return [key, details];
    }),
  );
}

function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}

// ---- finding a local engine from another process -------------------------------------------

export const ENGINE_STATE_FILE = '.sluice/engine.json';

export interface EngineStateFile {
  url: string;
  pid: number;
  /** The ARN to pass as stateMachineArn (StartExecution, ListExecutions). */
  stateMachineArn?: string;
  startedAt?: string;
}

export interface LocalEndpoint {
  url: string;
  /** `SLUICE_ENDPOINT` or the state file's path. */
  source: string;
  stateMachineArn?: string;
}

/** Writes the state file atomically (a reader never sees half a file). */
export async function writeEngineStateFile(path: string, state: EngineStateFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify({ startedAt: new Date().toISOString(), ...state }, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

/** The state file's content; undefined when there is none. A corrupt file is an error naming it. */
export async function readEngineStateFile(path: string): Promise<EngineStateFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`local engine state file ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`, {
      cause: error,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`local engine state file ${path}: not valid JSON`, { cause: error });
  }
  const state = parsed as Partial<EngineStateFile> | null;
  if (!state || typeof state.url !== 'string' || typeof state.pid !== 'number')
    throw new Error(`local engine state file ${path}: expected { url, pid }`);
  return {
    url: state.url,
    pid: state.pid,
    ...(typeof state.stateMachineArn === 'string' ? { stateMachineArn: state.stateMachineArn } : {}),
    ...(typeof state.startedAt === 'string' ? { startedAt: state.startedAt } : {}),
  };
}

/** Removes the state file if it still belongs to `pid` (another engine may have replaced it). */
export async function removeEngineStateFile(path: string, pid = process.pid): Promise<void> {
  const state = await readEngineStateFile(path).catch(() => undefined);
  if (state?.pid === pid) await rm(path, { force: true });
}

/**
 * Where a running local engine answers: `SLUICE_ENDPOINT`, else the state file in `cwd` when its
 * process is still alive; undefined when neither.
 */
export async function resolveLocalEndpoint(options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<LocalEndpoint | undefined> {
  const env = options.env ?? process.env;
  const fromEnv = env.SLUICE_ENDPOINT?.trim();
  if (fromEnv) return { url: fromEnv, source: 'SLUICE_ENDPOINT' };
  const path = resolvePath(options.cwd ?? process.cwd(), ENGINE_STATE_FILE);
  const state = await readEngineStateFile(path);
  if (!state || !isAlive(state.pid)) return undefined;
  return { url: state.url, source: path, ...(state.stateMachineArn ? { stateMachineArn: state.stateMachineArn } : {}) };
}

function isAlive(pid: number): boolean {
  // 0 and negative pids address process groups; never signal those.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** An SDK client for a local endpoint: a region and dummy credentials, nothing else changed. */
export function localSfnClient(endpoint: string): SFNClient {
  return new SFNClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
}
