/** Writes schema/rollout.schema.json from the zod schema (`npm run schema`); a test fails when it is stale. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { rolloutSpecSchema } from '../lambdas/core/spec.ts';

export const SCHEMA_PATH = fileURLToPath(new URL('../schema/rollout.schema.json', import.meta.url));

export function rolloutJsonSchema(): string {
  const schema = z.toJSONSchema(rolloutSpecSchema, { io: 'input', unrepresentable: 'any' });
  const document = {
    $id: 'https://sluice.dev/schema/rollout.schema.json',
    title: 'Sluice Rollout',
    description: 'A Sluice canary rollout spec (apiVersion sluice.dev/v1, kind Rollout). Generated from lambdas/core/spec.ts.',
    ...schema,
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(SCHEMA_PATH, rolloutJsonSchema());
  process.stdout.write(`wrote ${SCHEMA_PATH}\n`);
}
