#!/usr/bin/env node
// The CLI is TypeScript run directly by Node 24 (type stripping); the `node` devDependency
// puts Node 24 first on PATH for `npx sluice` and npm scripts.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`sluice needs Node 24 or newer (this is ${process.version}); run it through \`npx sluice\` after \`npm ci\`.\n`);
  process.exit(2);
}
// The handlers' structured logs are for CloudWatch; locally the CLI prints progress instead.
// POWERTOOLS_LOG_LEVEL=DEBUG shows them.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
const { main } = await import('../local/cli.ts');
process.exitCode = await main(process.argv.slice(2));
