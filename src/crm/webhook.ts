import { maskUrl } from '../secrets.js';

/** A Bitrix24 inbound webhook: https://PORTAL/rest/<user id>/<secret>/ */
export interface Webhook {
  /** The URL methods are appended to (ends with a slash). */
  base: string;
  /**
   * host[:port]: where the portal is reached. Not its identity — a portal answers at a custom
   * domain, a renamed address or another port as well (see portal-identity.ts).
   */
  address: string;
  /** The webhook's user: the portal counts execution time per webhook and method. */
  userId: string;
  /** The URL with its secret masked, for messages. */
  shown: string;
}

export class WebhookError extends Error {}

/**
 * Reads BITRIX24_WEBHOOK_URL (or a URL given): its scheme, host, user id and secret; a
 * method name or a trailing slash after the secret is allowed. Plain http only for a portal
 * on this machine (the sandbox): a cloud portal answers webhooks over http with "Https required."
 */
export function parseWebhook(url: string | undefined, setting = 'BITRIX24_WEBHOOK_URL'): Webhook {
  if (!url) {
    throw new WebhookError(`${setting} is not set: the inbound webhook of your Bitrix24 portal, https://PORTAL/rest/USER_ID/SECRET/ ` +
      '(Developer resources → Other → Inbound webhook, scope crm); `b2b-etl sandbox` prints one for a local portal');
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // not shown: where a webhook is not a URL, nothing tells its secret from the rest
    throw new WebhookError(`${setting} is not a URL: expected https://PORTAL/rest/USER_ID/SECRET/`);
  }
  const match = /^\/rest\/(\d+)\/([^/]+)(?:\/[^/]*)?\/?$/.exec(parsed.pathname);
  // the path is not shown either: without /rest/USER_ID/ any part of it may be the secret
  if (!match) throw new WebhookError(`${setting} (${parsed.protocol}//${parsed.host}/…): expected the path /rest/USER_ID/SECRET/ (copy the webhook URL as the portal shows it)`);
  const shown = maskUrl(url);
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && local)) {
    throw new WebhookError(`${setting} ${shown}: a portal is called over https (plain http only for a portal on this machine)`);
  }
  return {
    base: `${parsed.protocol}//${parsed.host}/rest/${match[1]}/${match[2]}/`,
    address: parsed.host,
    userId: match[1]!,
    shown: maskUrl(`${parsed.protocol}//${parsed.host}/rest/${match[1]}/${match[2]}/`),
  };
}
