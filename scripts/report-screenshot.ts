/**
 * Renders the sample rollout (local/report/sample.ts) and writes the README's picture,
 * docs/report.png: `node scripts/report-screenshot.ts [out.png]` (Node 24, Debian's Chromium).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { launchChromium } from '../local/report/chromium.ts';
import { reportDataFromSummary } from '../local/report/report-data.ts';
import { renderReport } from '../local/report/render.ts';
import { sampleSummary } from '../local/report/sample.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'docs', 'report.png'));

const dir = mkdtempSync(join(tmpdir(), 'sluice-report-'));
const browser = await launchChromium();
try {
  const html = join(dir, 'report.html');
  writeFileSync(html, renderReport(reportDataFromSummary(sampleSummary())));
  const page = await browser.newPage({ viewport: { width: 1040, height: 900 }, deviceScaleFactor: 1.5 });
  await page.goto(pathToFileURL(html).href);
  // The header and the charts: the table below them is for reading in the browser.
  const top = await page.locator('header').boundingBox();
  const charts = await page.locator('section[aria-label="Charts"]').boundingBox();
  if (!top || !charts) throw new Error('the report has no header or charts');
  const margin = 12;
  await page.screenshot({
    path: out,
    fullPage: true,
    clip: { x: top.x - margin, y: top.y - margin, width: top.width + 2 * margin, height: charts.y + charts.height - top.y + 2 * margin },
  });
  process.stdout.write(`${out}\n`);
} finally {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
}
