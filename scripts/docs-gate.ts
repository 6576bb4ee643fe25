/**
 * A gate of `npm run check`: the README stays a page a newcomer reads (at most 250 lines; the rest
 * lives in docs/), and no source comment points at a document or tracker outside the repository
 * ("DESIGN §3", "issue 7 part 2"): a comment says what it means, or links docs/architecture.md.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const README_MAX_LINES = 250;
const CITATION = /DESIGN(?:\.md)? ?§|\bissue #?\d+\b|\btask #?\d+ part\b/i;

const problems: string[] = [];
const readmeLines = readFileSync('README.md', 'utf8').split('\n').length;
if (readmeLines > README_MAX_LINES)
  problems.push(`README.md has ${readmeLines} lines: at most ${README_MAX_LINES}; move sections to docs/ and link them`);

const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '*.ts', '*.mjs', '*.js', '*.yaml', '*.yml'], {
  encoding: 'utf8',
})
  .split('\n')
  .filter((file) => file && !file.startsWith('node_modules/') && file !== 'scripts/docs-gate.ts');
for (const file of files) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue; // listed but deleted in the work tree
  }
  text.split('\n').forEach((line, index) => {
    if (CITATION.test(line)) problems.push(`${file}:${index + 1}: cites a design section or tracker item: ${line.trim().slice(0, 100)}`);
  });
}

if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`docs gate: README ${readmeLines}/${README_MAX_LINES} lines, ${files.length} files without citations\n`);
