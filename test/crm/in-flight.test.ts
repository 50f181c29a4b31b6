import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/db.js';
import { readySample, testPortal } from './helpers.js';

// How many batches the push keeps at the portal at once, read from the portal's call log:
// what --concurrency promises, across the chunks a push works in.

let db: TestDatabase;
beforeAll(async () => {
  ({ db } = await readySample(47, { companies: 80, contacts: 900 }));
});
afterAll(async () => {
  await db?.drop();
});

describe('batches in flight', () => {
  it('keeps --concurrency batches at the portal across chunks, never more, in the contacts phase too', async () => {
    // every import answers after 1.5 s, so batches the push sends together overlap at the portal
    const portal = await testPortal(db, { bucket: { size: 50, drainPerSecond: 50 }, operating: { importItemSeconds: 0.001 } });
    try {
      portal.sandbox.inject({ kind: 'latency', ms: 1500, method: 'crm.item.batchImport', times: 1000 });
      const chunk = 30; // contacts go 5 × 30 = 150 a chunk: one import batch each
      const contacts = Number(await db.value('select count(*) from etl.crm_contact_out'));
      expect(contacts).toBeGreaterThan(4 * chunk * 5);
      const result = await portal.push({ limits: { drain: 50 }, concurrency: 3, chunk });
      expect(result.stats.contact).toMatchObject({ created: contacts, failed: 0 });

      // per phase, the most requests open at the same moment at the portal
      const { rows } = await portal.db.query<{ phase: string; most: number }>(`
        with batch as (
          select c.id, c.at, c.at + c.seconds * interval '1 second' as done_at,
            case when exists (select from call_command k where k.call_id = c.id and k.params ->> 'entityTypeId' = '3') then 'contacts' else 'companies' end as phase
          from call c where c.method = 'batch'
        )
        select b.phase, max((select count(*) from batch o where o.at <= b.at and o.done_at > b.at))::int as most
        from batch b group by b.phase order by b.phase`);
      expect(rows).toEqual([{ phase: 'companies', most: 3 }, { phase: 'contacts', most: 3 }]);
    } finally {
      await portal.stop();
    }
  });
});
