/**
 * fauxqs for the soak, in a process of its own so the soak can restart it like a real
 * SQS endpoint that goes away and comes back: on a fixed port, its queues kept in
 * `dataDir` (SQLite) across restarts, as SQS keeps them.
 *
 *   node test/soak/sqs-soak-process.ts <port> <dataDir>
 * Prints the endpoint URL.
 */
import { startFauxqs } from 'fauxqs';
import { repairMakeVisible } from './fauxqs-persistence-fix.ts';

const [port, dataDir] = process.argv.slice(2);
await repairMakeVisible();
const server = await startFauxqs({ port: Number(port), host: '127.0.0.1', logger: false, dataDir });
console.log(`http://127.0.0.1:${server.port}`);
process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
