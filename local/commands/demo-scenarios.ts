/** The demo's scenarios: here, apart from demo.ts, so the CLI can offer them as choices without loading the demo. */
export const SCENARIOS = ['healthy', 'errors', 'latency', 'abort', 'shadow', 'ab', 'blue-green', 'affinity'] as const;
export type Scenario = (typeof SCENARIOS)[number];
