/**
 * The simulated Luma as a process of its own, for the compose stack:
 *   LUMA_SIM_PORT=4000 node src/local/luma-simulator-server.ts
 * It serves the demo guest lists and accepts only the key in LUMA_SIM_API_KEY.
 */
import { DEMO_LUMA_EVENTS } from './demo-data.ts';
import { startLumaSimulator } from './luma-simulator-http.ts';

const simulator = await startLumaSimulator(
  { events: DEMO_LUMA_EVENTS, apiKey: process.env.LUMA_SIM_API_KEY ?? 'local-dev-key' },
  { host: '0.0.0.0', port: Number(process.env.LUMA_SIM_PORT ?? 4000) },
);
console.log(`simulated Luma listening on ${simulator.url}`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void simulator.stop().then(() => process.exit(0)));
}
