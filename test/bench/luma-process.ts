/**
 * The simulated Luma in a process of its own, so that in a benchmark its CPU is not the
 * worker's (a real Luma is another machine). Started by sync-env.ts:
 *   node test/bench/luma-process.ts '<LumaSimulatorOptions as JSON>'
 * Prints one JSON line {"url", "statsUrl"}; GET statsUrl answers the request stats, and with
 * the option `recordArrivals` the arrival time of every request (performance.timeOrigin +
 * performance.now(), comparable with the bench process's clock on the same machine).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SIM_API_KEY } from '../../src/local/luma-simulator.ts';
import { startLumaSimulator } from '../../src/local/luma-simulator-http.ts';

const { recordArrivals, ...options } = JSON.parse(process.argv[2] ?? '{}');
const arrivals: number[] = [];
const onRequest = recordArrivals ? () => arrivals.push(performance.timeOrigin + performance.now()) : undefined;
const luma = await startLumaSimulator({ ...options, onRequest, apiKey: SIM_API_KEY });
const stats = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(recordArrivals ? { ...luma.stats, arrivals } : luma.stats));
});
stats.listen(0, '127.0.0.1', () => {
  const { port } = stats.address() as AddressInfo;
  console.log(JSON.stringify({ url: luma.url, statsUrl: `http://127.0.0.1:${port}` }));
});
process.once('SIGTERM', () => {
  stats.close();
  void luma.stop().then(() => process.exit(0));
});
