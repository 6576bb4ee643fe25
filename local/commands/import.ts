/**
 * `sluice import flagger <canary.yaml> [--out FILE]`: prints the Sluice spec (stdout or --out) and
 * the report in three labelled sections on stderr, so `> podinfo.yaml` captures only the spec.
 * Exit 0 when a valid spec results; 2 when the file is not a Flagger Canary Sluice can import.
 * The file may hold several YAML documents: the Canary, and MetricTemplates its metrics refer to.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseAllDocuments, stringify } from 'yaml';
import { EXIT } from '../exit-codes.ts';
import { FlaggerImportError, importFlaggerCanary } from '../import/flagger.ts';
import type { FlaggerImport, FlaggerImportOptions, ImportReport, ReportLine } from '../import/flagger.ts';

export interface ImportIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface ImportCommandOptions {
  out?: string;
  /** One JSON object ({ spec, report, deferred, problems }) on stdout instead of YAML and the stderr report. */
  json?: boolean;
  /** EKS cluster name (with region) or a kubeconfig context: a Canary does not name its cluster. */
  cluster?: string;
  region?: string;
  kubeContext?: string;
  prometheus?: string;
  meshProvider?: string;
  namespace?: string;
  upstreamGroup?: boolean;
}

export type ImportKind = 'flagger';

function clusterOf(options: ImportCommandOptions): FlaggerImportOptions['cluster'] {
  if (options.kubeContext) return { kubeconfigContext: options.kubeContext };
  if (options.cluster) {
    if (!options.region) throw new FlaggerImportError('--cluster needs --region (an EKS cluster is named by both)');
    return { name: options.cluster, region: options.region };
  }
  return undefined;
}

/** The Canary and the MetricTemplates of a (possibly multi-document) YAML file. */
async function readDocuments(file: string): Promise<{ canary: unknown; templates: unknown[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FlaggerImportError(code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? String(error)})`, { cause: error });
  }
  const documents = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(documents)) throw new FlaggerImportError('expected YAML documents');
  const values: unknown[] = [];
  for (const document of documents) {
    const error = document.errors[0];
    if (error) {
      const line = error.linePos?.[0]?.line;
      throw new FlaggerImportError(`not valid YAML${line ? ` (line ${line})` : ''}: ${error.message.split('\n')[0] ?? 'unreadable'}`, {
        cause: error,
      });
    }
    const value: unknown = document.toJS();
    if (value !== null && value !== undefined) values.push(value);
  }
  const isCanary = (value: unknown) => (value as { kind?: unknown } | null)?.kind === 'Canary';
  const canaries = values.filter(isCanary);
  if (canaries.length > 1) throw new FlaggerImportError(`holds ${canaries.length} Canaries: import one at a time`);
  // No Canary: hand the first document over, so the error says what it is instead.
  return { canary: canaries[0] ?? values[0] ?? null, templates: values.filter((value) => !isCanary(value)) };
}

function formatLine(line: ReportLine): string {
  return `  ${line.flagger}${line.sluice ? ` → ${line.sluice}` : ''}\n      ${line.note}\n`;
}

/** The report as three labelled sections. */
export function formatReport(report: ImportReport): string {
  const section = (title: string, lines: ReportLine[]) =>
    `${title} (${lines.length}):\n${lines.length ? lines.map(formatLine).join('') : '  (none)\n'}`;
  return [
    section('Maps as is', report.mapped),
    section('Maps with a changed meaning — read before running', report.changed),
    section('No equivalent in Sluice — left out', report.unmapped),
  ].join('\n');
}

/** The spec as YAML with a header saying where it came from, what to do before running it, and what was left out. */
export function renderSpecYaml(result: FlaggerImport, source: string, namespace: string, name: string): string {
  const header = [
    `# Imported by \`sluice import flagger ${source}\` from Flagger Canary ${namespace}/${name}.`,
    '# Read the report the import printed; then `sluice validate` this file.',
    '# Before Sluice drives this target, stop Flagger without deleting what it created',
    '# (the primary Deployment, Services, RouteTable and Upstreams are owned by the Canary):',
    `#   kubectl -n ${namespace} delete canary ${name} --cascade=orphan`,
  ];
  if (result.deferred.length) {
    header.push('#', '# Left out until Sluice supports them (see the report):');
    for (const field of result.deferred) {
      const body = stringify({ [field.path]: field.value }, { lineWidth: 0 }).trimEnd();
      header.push(...body.split('\n').map((line) => `#   ${line}`));
    }
  }
  return `${header.join('\n')}\n${stringify(result.spec, { lineWidth: 0 })}`;
}

export async function importCommand(kind: ImportKind, file: string, options: ImportCommandOptions, io: ImportIo): Promise<number> {
  if (kind !== 'flagger') {
    io.stderr(`sluice import: unknown source "${String(kind)}" (expected flagger)\n`);
    return EXIT.invalid;
  }
  let result: FlaggerImport;
  let canary: { metadata?: { name?: string; namespace?: string } };
  try {
    const documents = await readDocuments(file);
    const cluster = clusterOf(options);
    result = importFlaggerCanary(documents.canary, {
      ...(cluster ? { cluster } : {}),
      ...(options.prometheus ? { prometheusAddress: options.prometheus } : {}),
      ...(options.meshProvider ? { meshProvider: options.meshProvider } : {}),
      ...(options.namespace ? { namespace: options.namespace } : {}),
      ...(options.upstreamGroup ? { upstreamGroup: true } : {}),
      metricTemplates: documents.templates,
    });
    canary = documents.canary as typeof canary;
  } catch (error) {
    if (error instanceof FlaggerImportError) {
      io.stderr(`${file}: ${error.message}\n`);
      return EXIT.invalid;
    }
    throw error;
  }

  if (options.json) {
    io.stdout(`${JSON.stringify({ ok: result.problems.length === 0, ...result })}\n`);
    return result.problems.length ? EXIT.invalid : EXIT.ok;
  }
  io.stderr(`${formatReport(result.report)}\n`);
  if (result.problems.length) {
    io.stderr(`The spec would not be valid; nothing written:\n${result.problems.map((p) => `  ${p.path}: ${p.message}\n`).join('')}`);
    return EXIT.invalid;
  }
  const name = canary.metadata?.name ?? result.spec.metadata.name;
  const namespace = canary.metadata?.namespace ?? result.spec.spec.workload?.namespace ?? 'default';
  const yaml = renderSpecYaml(result, file, namespace, name);
  if (options.out) {
    await writeFile(options.out, yaml);
    io.stderr(`wrote ${options.out}\n`);
  } else {
    io.stdout(yaml);
  }
  return EXIT.ok;
}
