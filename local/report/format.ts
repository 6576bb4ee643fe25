/** Text in the report: escaping (every string from the rollout is user input) and numbers, times and money in words. */

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function round(value: number, digits: number): string {
  return String(Number(value.toFixed(digits)));
}

export function formatPercent(value: number, digits = 2): string {
  return `${round(value, digits)}%`;
}

export function formatMs(value: number): string {
  return `${round(value, value < 10 ? 1 : 0)} ms`;
}

/** "0s", "45s", "1m", "1m30s", "1h05m": compact tick labels. */
export function formatTick(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${String(s % 60).padStart(2, '0')}s` : ''}`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** "42.3 s", "2 min 05 s", "1 h 02 min": durations in prose. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${round(ms / 1000, 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatDollars(amount: number): string {
  if (amount === 0) return '$0';
  if (amount >= 0.01) return `$${amount.toFixed(2)}`;
  return `$${Number(amount.toPrecision(3))}`;
}

export function weightLabel(percent: number, scale: number): string {
  return `${round(percent, scale >= 1000 ? 1 : 0)}%`;
}

export function metricValue(kind: 'success' | 'latency', value: number): string {
  return kind === 'success' ? formatPercent(value) : formatMs(value);
}
