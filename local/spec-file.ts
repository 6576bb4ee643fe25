/** Reading a spec file: YAML or JSON, with one-line errors instead of stack traces. */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { validateSpec } from '../lambdas/core/spec.ts';
import type { SpecResult } from '../lambdas/core/spec.ts';

export class SpecFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpecFileError';
  }
}

/** Parses YAML or JSON text (JSON is YAML); a parse error becomes one line naming the file and the line. */
export function parseSpecText(text: string, source: string): unknown {
  if (!text.trim()) throw new SpecFileError(`${source}: the file is empty; expected a Rollout spec in YAML or JSON`);
  try {
    return parseYaml(text, { prettyErrors: false });
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const line = error.linePos?.[0]?.line;
      const message = error.message.split('\n')[0] ?? 'unreadable';
      throw new SpecFileError(`${source}: not valid YAML or JSON${line ? ` (line ${line})` : ''}: ${message}`, { cause: error });
    }
    throw new SpecFileError(`${source}: not valid YAML or JSON: ${String(error)}`, { cause: error });
  }
}

export async function readSpecDocument(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SpecFileError(code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read (${code ?? String(error)})`, {
      cause: error,
    });
  }
  const document = parseSpecText(text, path);
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new SpecFileError(`${path}: expected a mapping with apiVersion, kind, metadata and spec at the top`);
  }
  return document;
}

export async function validateSpecFile(path: string): Promise<SpecResult> {
  return validateSpec(await readSpecDocument(path));
}
