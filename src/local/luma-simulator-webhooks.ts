import { randomBytes, randomUUID } from 'node:crypto';
import { HttpResponse, http } from 'msw';
import { Webhook } from 'standardwebhooks';
import type { SimGuest } from './luma-simulator.ts';

/** A webhook as Luma's /v2/webhooks/create returns it. */
export interface SimWebhook {
  id: string;
  url: string;
  event_types: string[];
  status: 'active' | 'paused';
  secret: string;
  created_at: string;
}

export interface SimDelivery {
  url: string;
  type: string;
  eventId: string;
  /** The receiver's HTTP status, or 0 when it could not be reached. */
  status: number;
}

/**
 * The simulated Luma's webhooks: /v2/webhooks/create and /v1/webhooks/list (the 2026-06
 * OpenAPI file's shapes), and deliveries signed with the Standard Webhooks scheme — the
 * one this project assumes Luma uses (Luma does not document it).
 */
export function createSimWebhooks(options: { apiKey: string }) {
  const webhooks: SimWebhook[] = [];
  const deliveries: SimDelivery[] = [];
  const authorized = (request: Request) => request.headers.get('x-luma-api-key') === options.apiKey;
  const denied = () => HttpResponse.json({ message: 'Invalid API key' }, { status: 401 });

  const handlers = [
    http.get('*/v1/webhooks/list', ({ request }) => {
      if (!authorized(request)) return denied();
      return HttpResponse.json({ entries: webhooks, has_more: false });
    }),
    http.post('*/v2/webhooks/create', async ({ request }) => {
      if (!authorized(request)) return denied();
      const body = (await request.json().catch(() => null)) as { url?: unknown; event_types?: unknown } | null;
      if (!body || typeof body.url !== 'string' || !/^http/.test(body.url) || !Array.isArray(body.event_types)) {
        return HttpResponse.json({ message: 'url and event_types are required' }, { status: 400 });
      }
      const webhook: SimWebhook = {
        id: `whk-${randomBytes(6).toString('hex')}`,
        url: body.url,
        event_types: body.event_types.map(String),
        status: 'active',
        secret: `whsec_${randomBytes(24).toString('base64')}`,
        created_at: new Date().toISOString(),
      };
      webhooks.push(webhook);
      return HttpResponse.json(webhook);
    }),
  ];

  /** Sends one signed delivery to every active webhook subscribed to `type`. */
  async function deliver(type: string, eventId: string, guest: SimGuest): Promise<SimDelivery[]> {
    const payload = guestDeliveryPayload(type, eventId, guest);
    const targets = webhooks.filter(
      (w) => w.status === 'active' && (w.event_types.includes(type) || w.event_types.includes('*')),
    );
    return Promise.all(
      targets.map(async (webhook) => {
        const id = `msg_${randomUUID()}`;
        const at = new Date();
        const headers = {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': new Webhook(webhook.secret).sign(id, at, payload),
        };
        const status = await fetch(webhook.url, { method: 'POST', headers, body: payload }).then(
          (r) => r.status,
          () => 0,
        );
        const delivery = { url: webhook.url, type, eventId, status };
        deliveries.push(delivery);
        return delivery;
      }),
    );
  }

  return { handlers, webhooks, deliveries, deliver };
}

export type SimWebhooks = ReturnType<typeof createSimWebhooks>;

/** The body of a guest delivery as Luma sends it (the 2026-06 OpenAPI file's shape). */
export function guestDeliveryPayload(type: string, eventId: string, guest: SimGuest): string {
  return JSON.stringify({
    type,
    data: {
      id: guest.id,
      user_email: guest.email,
      user_name: guest.name ?? null,
      approval_status: guest.approvalStatus ?? 'approved',
      registered_at: guest.registeredAt ?? new Date().toISOString(),
      event: { platform: 'luma', id: eventId },
    },
  });
}
