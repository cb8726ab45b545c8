/**
 * What one command needs beyond loadConfig's checks, verified before anything connects:
 * each problem is a ConfigError (exit 2) naming the variable and what to do.
 */
import { type Config, ConfigError, resolveAwsRegion } from '../config/config.ts';
import { connectionOptions } from '../db/connection-options.ts';
import { DatabaseUrlError } from '../db/database-url.ts';

export interface CommandNeeds {
  command: string;
  dryRun: boolean;
}

export async function preflight(needs: CommandNeeds, config: Readonly<Config>): Promise<ConfigError | undefined> {
  // Every event is synced from Luma (the one provider), dry runs too.
  if (needs.command === 'sync' && config.luma.apiKey === '') {
    return new ConfigError([
      'LUMA_API_KEY: is required by sync (it reads the guest list from Luma); set it to the calendar API key',
    ]);
  }
  try {
    // Reads the CA file sslrootcert names: one that cannot be read is a configuration error too.
    connectionOptions(config.database.url);
  } catch (err) {
    if (!(err instanceof DatabaseUrlError)) throw err;
    return new ConfigError([`DATABASE_URL: ${err.message}`]);
  }
  const needsQueue =
    needs.command === 'daemon'
      ? config.enabled || config.consumer.enabled || config.webhook.enabled
      : needs.command === 'enqueue' && !needs.dryRun;
  return needsQueue ? awsRegionProblem(config) : undefined;
}

/** A ConfigError when the SQS client would have no region. */
async function awsRegionProblem(config: Readonly<Config>): Promise<ConfigError | undefined> {
  // Imported here, not above: the commands without a queue (status, sync) never load the AWS SDK.
  const { createSqsClient } = await import('../wiring.ts');
  const sqs = createSqsClient(config);
  try {
    await resolveAwsRegion(sqs);
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  } finally {
    sqs.destroy();
  }
}
