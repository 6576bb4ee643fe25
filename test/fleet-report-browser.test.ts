/**
 * The fleet report as a person sees it: the page of a halted fleet (a promoted, b rolled back,
 * c not started) opened in Debian's Chromium (playwright-core; a missing Chromium fails the test).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../lambdas/adapters/store/sqlite.ts';
import { launchChromium } from '../local/report/chromium.ts';
import { halted, haltedFleet } from '../local/report/fleet-fixtures.ts';
import { fleetReportData, renderFleetReport } from '../local/report/fleet-report.ts';

describe('the fleet report in Chromium', () => {
  let browser: Browser;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-fleet-report-browser-'));
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows one lane per cluster, stacked in wave order, each with its outcome; no console errors and no network', async () => {
    // Prepare
    const store = openSqliteStore(':memory:');
    await haltedFleet(store);
    const file = join(dir, 'fleet.html');
    writeFileSync(file, renderFleetReport(await fleetReportData(store, halted)));
    await store.close();
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('request', (request) => requests.push(request.url()));

    // Act
    const url = pathToFileURL(file).href;
    await page.goto(url, { waitUntil: 'load' });

    // Assess
    const lanes = page.getByTestId('lane');
    await expect(lanes.count()).resolves.toBe(3);
    const boxes = await Promise.all([0, 1, 2].map((i) => lanes.nth(i).boundingBox()));
    for (const box of boxes) expect(box?.width).toBeGreaterThan(600);
    // Stacked top to bottom without overlapping: a above b above c.
    expect((boxes[0]?.y ?? 0) + (boxes[0]?.height ?? 0)).toBeLessThanOrEqual(boxes[1]?.y ?? 0);
    expect((boxes[1]?.y ?? 0) + (boxes[1]?.height ?? 0)).toBeLessThanOrEqual(boxes[2]?.y ?? 0);
    await expect(page.getByTestId('lane-outcome').allTextContents()).resolves.toEqual(['✓ Promoted', '↩ Rolled back', '– Not started']);
    await expect(page.getByTestId('outcome').innerText()).resolves.toContain('Halted');
    expect(problems).toEqual([]);
    expect(requests).toEqual([url]);
  });
});
