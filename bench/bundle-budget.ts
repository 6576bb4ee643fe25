/**
 * Bundle budget: synthesizes the CDK app into cdk.out, then for each Lambda's
 * bundle measures its size and its module-load time on this Node (24, the Lambda runtime's major)
 * with the Lambda's own NODE_OPTIONS: the median of repeated cold imports, each in a fresh process.
 * A plain @kubernetes/client-node bundle, built with the same esbuild options in the same run, is
 * the baseline for the Lambdas that talk to Kubernetes.
 *
 * Targets: without Kubernetes ≤ 300 KiB and ≤ 50 ms; with it ≤ baseline + 300 KiB and + 30 ms.
 *
 *   npm run bench:bundle [-- --runs 15] [-- --bundle-aws-sdk]
 *
 * By default the Lambdas use the AWS SDK the nodejs24.x runtime ships (CDK marks `@aws-sdk/*`
 * external). Those imports resolve here from the project's node_modules, as they resolve from
 * /var/runtime/node_modules in Lambda, so their load time is counted. `--bundle-aws-sdk` measures
 * the other choice (the SDK bundled, minified) for comparison.
 *
 * Prints a table and writes bench/results/bundle-budget.json. Exits 0 either way (it reports; the
 * verdict per row is in the table and the JSON); `--strict` exits 1 when a target is missed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { CfnElement } from 'aws-cdk-lib';
import { build } from 'esbuild';
import { buildApp } from '../infra/app.ts';
import { ESM_REQUIRE_BANNER, HANDLERS } from '../infra/sluice-orchestrator.ts';
import type { HandlerName } from '../infra/sluice-orchestrator.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const KIB = 1024;
const TARGETS = { plainBytes: 300 * KIB, plainMs: 50, extraBytes: 300 * KIB, extraMs: 30 };

interface Measured {
  name: string;
  kubernetes: boolean;
  /** The bundle's source map lists @kubernetes/client-node files. */
  bundlesKubernetesClient: boolean;
  bytes: number;
  mapBytes: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

interface Row extends Measured {
  targetBytes: number;
  targetMs: number;
  pass: { bytes: boolean; ms: boolean };
}

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    strict: { type: 'boolean', default: false },
    out: { type: 'string', default: 'cdk.out' },
    'bundle-aws-sdk': { type: 'boolean', default: false },
  },
});
const runs = Number(args.runs);
if (!Number.isInteger(runs) || runs < 3) throw new Error(`--runs must be an integer of at least 3, got ${args.runs}`);

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** One cold import in a fresh Node process; returns milliseconds from before `import()` to its settling. */
function coldImportMs(file: string, nodeOptions: string): number {
  const script = `const t0 = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t0));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: dirname(file),
    // What the Lambda environment gives at init; the handlers must not call out while loading.
    env: {
      PATH: process.env.PATH ?? '',
      NODE_OPTIONS: nodeOptions,
      AWS_REGION: 'us-east-1',
      AWS_LAMBDA_FUNCTION_NAME: 'bench',
      POWERTOOLS_SERVICE_NAME: 'sluice',
      SLUICE_TABLE_NAME: 'bench-table',
      SLUICE_EVENT_BUS_NAME: 'bench-bus',
      SLUICE_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:bench',
    },
    encoding: 'utf8',
  });
  const ms = Number(out.trim().split('\n').pop());
  if (!Number.isFinite(ms)) throw new Error(`cold import of ${file} printed no time: ${out}`);
  return ms;
}

function measure(name: string, kubernetes: boolean, dir: string, nodeOptions: string): Measured {
  const file = join(dir, 'index.mjs');
  const map = JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources: string[] };
  coldImportMs(file, nodeOptions); // a first run warms the OS file cache, not Node: not counted
  const times = Array.from({ length: runs }, () => coldImportMs(file, nodeOptions));
  return {
    name,
    kubernetes,
    bundlesKubernetesClient: map.sources.some((s) => s.includes('node_modules/@kubernetes/client-node/')),
    bytes: statSync(file).size,
    mapBytes: statSync(`${file}.map`).size,
    medianMs: median(times),
    minMs: Math.min(...times),
    maxMs: Math.max(...times),
  };
}

/** A plain client-node bundle: a KubeConfig and the two API clients Sluice uses, same esbuild options as the Lambdas. */
async function buildBaseline(outdir: string): Promise<string> {
  const dir = join(outdir, 'bench-client-node-baseline');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await build({
    stdin: {
      contents:
        "import { AppsV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';\n" +
        'export const handler = async () => { const kc = new KubeConfig(); kc.loadFromDefault(); return [kc.makeApiClient(CustomObjectsApi), kc.makeApiClient(AppsV1Api)].length; };\n',
      resolveDir: ROOT,
      sourcefile: 'client-node-baseline.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    outfile: join(dir, 'index.mjs'),
    logLevel: 'warning',
  });
  return dir;
}

const kib = (bytes: number) => `${(bytes / KIB).toFixed(0)} KiB`;

async function main(): Promise<void> {
  const outdir = resolve(ROOT, args.out);
  if (!args['bundle-aws-sdk'] && relative(ROOT, outdir).startsWith('..')) {
    // The external @aws-sdk imports resolve through the project's node_modules: the bundles must sit below it.
    throw new Error(
      `--out ${outdir} is outside ${ROOT}: the bundles' @aws-sdk imports could not resolve (use a directory inside the project, or --bundle-aws-sdk)`,
    );
  }
  process.stderr.write(`synthesizing into ${outdir} (bundles every Lambda with esbuild)…\n`);
  // A review synth (no cluster), with GitOps on so its Lambda is measured too.
  const { app, stack } = buildApp({
    outdir,
    context: { allowNoCluster: 'true', gitops: 'true', ...(args['bundle-aws-sdk'] ? { bundleAwsSdk: 'true' } : {}) },
  });
  const assembly = app.synth();
  const template = assembly.getStackByName(stack.stackName).template as {
    Resources: Record<string, { Properties: { Code: { S3Key: string }; Environment?: { Variables?: Record<string, unknown> } } }>;
  };

  const baselineDir = await buildBaseline(outdir);
  process.stderr.write(`measuring ${runs} cold imports per bundle…\n`);
  const baseline = measure('client-node baseline', true, baselineDir, '--enable-source-maps');

  const rows: Row[] = [];
  for (const name of Object.keys(HANDLERS) as HandlerName[]) {
    const fn = stack.orchestrator.functions[name];
    const props = template.Resources[stack.getLogicalId(fn.node.defaultChild as CfnElement)]!.Properties;
    const dir = join(outdir, `asset.${props.Code.S3Key.replace(/\.zip$/, '')}`);
    const nodeOptions = String(props.Environment?.Variables?.NODE_OPTIONS ?? '');
    const m = measure(name, HANDLERS[name].kubernetes, dir, nodeOptions);
    const targetBytes = m.kubernetes ? baseline.bytes + TARGETS.extraBytes : TARGETS.plainBytes;
    const targetMs = m.kubernetes ? baseline.medianMs + TARGETS.extraMs : TARGETS.plainMs;
    rows.push({ ...m, targetBytes, targetMs, pass: { bytes: m.bytes <= targetBytes, ms: m.medianMs <= targetMs } });
  }

  const header = ['bundle', 'k8s', 'size', 'target', 'load median', 'min–max', 'target', 'verdict'];
  const lines = [
    [
      baseline.name,
      'yes',
      kib(baseline.bytes),
      '',
      `${baseline.medianMs.toFixed(1)} ms`,
      `${baseline.minMs.toFixed(1)}–${baseline.maxMs.toFixed(1)}`,
      '',
      'baseline',
    ],
    ...rows.map((r) => [
      r.name,
      r.bundlesKubernetesClient ? 'yes' : 'no',
      kib(r.bytes),
      `≤ ${kib(r.targetBytes)}`,
      `${r.medianMs.toFixed(1)} ms`,
      `${r.minMs.toFixed(1)}–${r.maxMs.toFixed(1)}`,
      `≤ ${r.targetMs.toFixed(0)} ms`,
      r.pass.bytes && r.pass.ms ? 'ok' : `MISSED (${[!r.pass.bytes && 'size', !r.pass.ms && 'load'].filter(Boolean).join(', ')})`,
    ]),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(
    `Bundle budget — Node ${process.version}, NODE_OPTIONS as deployed, AWS SDK ${args['bundle-aws-sdk'] ? 'bundled' : 'from the runtime'}, median of ${runs} cold imports`,
  );
  const [load] = loadavg();
  if (load !== undefined && load > availableParallelism())
    console.log(
      `warning: load average ${load.toFixed(1)} on ${availableParallelism()} CPUs: load times are inflated; rerun on a quiet machine`,
    );
  console.log(format(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const line of lines) console.log(format(line));
  const mismatched = rows.filter((r) => r.bundlesKubernetesClient !== r.kubernetes);
  for (const r of mismatched)
    console.log(
      `note: ${r.name} ${r.kubernetes ? 'is wired for Kubernetes but bundles no client' : 'bundles the Kubernetes client without needing it'}`,
    );

  const result = {
    date: new Date().toISOString(),
    node: process.version,
    runs,
    awsSdk: args['bundle-aws-sdk'] ? 'bundled' : 'runtime (external)',
    loadAverage: loadavg(),
    cpus: availableParallelism(),
    targets: {
      withoutKubernetes: { bytes: TARGETS.plainBytes, ms: TARGETS.plainMs },
      withKubernetes: { extraBytes: TARGETS.extraBytes, extraMs: TARGETS.extraMs },
    },
    baseline,
    functions: rows,
    allPass: rows.every((r) => r.pass.bytes && r.pass.ms) && mismatched.length === 0,
  };
  const file = join(ROOT, 'bench', 'results', 'bundle-budget.json');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${file}`);
  if (args.strict && !result.allPass) process.exitCode = 1;
}

await main();
