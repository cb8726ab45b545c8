import type { Config } from '../config/config.ts';
import { createLumaClient } from '../providers/luma.ts';
import { registerWebhook, WebhookRegistrationError } from '../webhooks/register.ts';

/** Creates (or finds) the calendar's webhook for `url`; prints it with its secret. */
export async function runRegisterCommand(config: Readonly<Config>, url: string) {
  if (config.luma.apiKey === '') {
    process.stderr.write('luma-guest-sync: LUMA_API_KEY is required for webhooks:register\n');
    return 2;
  }
  try {
    const webhook = await registerWebhook(await createLumaClient(config.luma), url);
    process.stdout.write(`${JSON.stringify(webhook, null, 2)}\n`);
    process.stderr.write(
      `luma-guest-sync: webhook ${webhook.id} ${webhook.reused ? 'already existed' : 'created'}; store its secret as LUMA_WEBHOOK_SECRET\n`,
    );
    return 0;
  } catch (err) {
    if (!(err instanceof WebhookRegistrationError)) throw err;
    process.stderr.write(`luma-guest-sync: ${err.message}\n`);
    return 1;
  }
}
