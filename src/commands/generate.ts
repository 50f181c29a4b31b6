import { parseArgs } from 'node:util';
import { generate, STORE_A_DUMP, STORE_B_EVENTS, type Scale } from '../generate/index.js';
import { UsageError, log } from './context.js';

export async function generateCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      scale: { type: 'string', default: 'small' },
      out: { type: 'string' },
      seed: { type: 'string', default: '1' },
      'as-of': { type: 'string' },
      companies: { type: 'string' },
      contacts: { type: 'string' },
      'store-a-companies': { type: 'string' },
      'store-a-contacts': { type: 'string' },
      events: { type: 'string' },
    },
  });
  if (!values.out) throw new UsageError('usage: b2b-etl generate --scale small|seed --out DIR [--seed N] [--as-of YYYY-MM-DD] [--companies N] [--contacts N] [--store-a-companies N] [--store-a-contacts N] [--events N]');
  if (values.scale !== 'small' && values.scale !== 'seed') throw new UsageError(`--scale ${values.scale}: use small or seed`);
  const count = (name: string, v?: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number`);
    return n;
  };
  const started = Date.now();
  const { manifest, truth } = await generate({
    out: values.out,
    scale: values.scale as Scale,
    seed: count('seed', values.seed),
    asOf: values['as-of'],
    companies: count('companies', values.companies),
    contacts: count('contacts', values.contacts),
    storeACompanies: count('store-a-companies', values['store-a-companies']),
    storeAContacts: count('store-a-contacts', values['store-a-contacts']),
    events: count('events', values.events),
  });
  log(`generated ${Object.keys(truth.store_b.companies).length} store B companies and ` +
    `${Object.keys(truth.store_b.contacts).length} contacts (${manifest.length} files), ` +
    `store A's ${Object.keys(truth.store_a.companies).length} companies and ${Object.keys(truth.store_a.contacts).length} contacts (${STORE_A_DUMP}), ` +
    `${truth.store_b_events.messages} store B events (${STORE_B_EVENTS}) in ${values.out} with truth.json and manifest.json ` +
    `in ${((Date.now() - started) / 1000).toFixed(1)}s; load window starts ${truth.window_start}`);
  return 0;
}
