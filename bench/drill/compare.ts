import { isDeepStrictEqual } from 'node:util';
import type pg from 'pg';
import { PORTAL_SCHEMA } from './lane.js';

/**
 * What the two runs are compared by: each kind is a query giving one row per entity, keyed by
 * what it means to the business (a record's source key and payload, a company's INN, a
 * contact's source records), never by ids either warehouse or portal made up, with the
 * entity's values as JSON. A key twice in one run and once in the other is an entity doubled
 * or lost; a key in both with other values is an entity that differs.
 *
 * Canonical rows marked deleted are left out: which ones a run keeps depends on the states it
 * went through (a company accepted before the registry answered, a record whose INN changed
 * between two transforms), that is on when its transforms ran, not on whether it was killed.
 * Registry answers are compared for the live companies, and the portal's entities for the live
 * canonical ones, for the same reason: what a push sent of a state the warehouse has left stays
 * in the CRM (nothing is deleted there). A portal entity of ours naming no canonical row at all
 * is compared, and is a difference.
 */
const LINEAGE = `(select string_agg(s.source || ':' || s.source_key, ' + ' order by s.source, s.source_key)
                  from canonical.contact_source s where s.contact_id = k.contact_id)`;

/** Portal fields that are ids, times or references the queries put business keys in place of. */
const PORTAL_IDS = `'{ID,DATE_CREATE,DATE_MODIFY,CREATED_BY_ID,MODIFY_BY_ID,ORIGIN_ID,COMPANY_ID,ENTITY_ID,ANCHOR_ID,ANCHOR_TYPE_ID,LAST_ACTIVITY_TIME,LAST_ACTIVITY_BY,COMPANY_IDS,XML_ID,CONTACT_ID,CONTACT_IDS,OWNER_ID,MOVED_TIME,MOVED_BY_ID}'::text[]`;

const p = (table: string) => `${PORTAL_SCHEMA}.${table}`;

const PORTAL_COMPANY_KEY = `(select 'INN ' || c.inn from canonical.company c where c.company_id::text = pc.fields ->> 'ORIGIN_ID')`;

/** The portal entity `alias` is of a canonical company (contact) that is now deleted: history, left out. */
const OF_DELETED_COMPANY = (alias: string) => `exists (select from canonical.company c where c.company_id::text = ${alias}.fields ->> 'ORIGIN_ID' and c.is_deleted)`;
const OF_DELETED_CONTACT = (alias: string) => `exists (select from canonical.contact k where k.contact_id::text = ${alias}.fields ->> 'ORIGIN_ID' and k.is_deleted)`;
const OF_DELETED_DEAL = (alias: string) => `exists (select from canonical.deal d where d.deal_id::text = ${alias}.fields ->> 'ORIGIN_ID' and d.is_deleted)`;

/** A deal's key: its source order. */
const DEAL_KEY = (id: string) => `(select 'order ' || d.source || ':' || d.source_key from canonical.deal d where d.deal_id::text = ${id}::text)`;

const multifields = (entity: string, id: string) =>
  `coalesce((select jsonb_agg(jsonb_build_array(m.type_id, m.value_type, m.value) order by m.type_id, m.value, m.value_type)
             from ${p('multifield')} m where m.entity_id = '${entity}' and m.element_id = ${id}), '[]')`;

// a CRM link's `how` is left out: an add whose answer a kill lost is found by ORIGIN_ID and adopted, the same entity
export const KINDS: Record<string, string> = {
  'staging records': `select concat_ws(' ', source, entity, source_key, payload_hash) as key,
      jsonb_build_object('updated', source_updated_at, 'deleted', is_deleted, 'payload', payload, 'raw', raw_text) as value
    from staging.record`,
  'Kafka messages': `select concat_ws(' ', topic, partition, "offset") as key,
      jsonb_build_object('key', message_key, 'source', source, 'entity', entity, 'source_key', source_key, 'produced_at', produced_at) as value
    from staging.kafka_message`,
  'canonical companies': `select 'INN ' || c.inn as key,
      to_jsonb(c) - '{company_id,first_seen_at,updated_at,registry_checked_at,row_hash}'::text[] || jsonb_build_object('sources',
        (select jsonb_agg(s.source || ':' || s.source_key order by s.source, s.source_key) from canonical.company_source s where s.company_id = c.company_id)) as value
    from canonical.company c where not c.is_deleted`,
  'canonical contacts': `select coalesce(${LINEAGE}, 'a contact of no source record') as key,
      to_jsonb(k) - '{contact_id,company_id,first_seen_at,updated_at,row_hash}'::text[] || jsonb_build_object('company', c.inn) as value
    from canonical.contact k join canonical.company c using (company_id) where not k.is_deleted`,
  'open rejections': `select concat_ws(' ', source, entity, source_key, reason) as key,
      jsonb_build_object('severity', severity, 'detail', detail, 'value', value) as value
    from etl.rejection where resolved_at is null`,
  'registry answers': `select 'INN ' || inn as key, to_jsonb(l) - '{fetched_at,expires_at}'::text[] as value from etl.registry_lookup l
    where exists (select from canonical.company c where c.inn = l.inn and not c.is_deleted)`,
  // a deal's creation time in the portal is left out: an old order imported after newer ones
  // gets the time import allows then, which depends on what was pushed before it
  'canonical deals': `select 'order ' || d.source || ':' || d.source_key as key,
      to_jsonb(d) - '{deal_id,company_id,contact_id,first_seen_at,updated_at,row_hash}'::text[] || jsonb_build_object('company', c.inn,
        'contact', (select ${LINEAGE} from canonical.contact k where k.contact_id = d.contact_id),
        'items', (select jsonb_agg(to_jsonb(i) - 'deal_id' order by i.line_no) from canonical.deal_item i where i.deal_id = d.deal_id)) as value
    from canonical.deal d join canonical.company c using (company_id) where not d.is_deleted`,
  'CRM links': `select l.entity || ' ' || coalesce(case l.entity when 'company' then (select 'INN ' || c.inn from canonical.company c where c.company_id = l.canonical_id)
                                                      when 'deal' then ${DEAL_KEY('l.canonical_id')}
                                                      else (select ${LINEAGE} from canonical.contact k where k.contact_id = l.canonical_id) end, 'of no entity') as key,
      jsonb_build_object('state', l.state, 'has_address', l.has_address, 'requisite', l.requisite_id is not null,
                         'bank_detail', l.bankdetail_id is not null, 'last_error', l.last_error) as value
    from etl.crm_link l
    where not exists (select from canonical.company c where l.entity = 'company' and c.company_id = l.canonical_id and c.is_deleted)
      and not exists (select from canonical.contact k where l.entity = 'contact' and k.contact_id = l.canonical_id and k.is_deleted)
      and not exists (select from canonical.deal d where l.entity = 'deal' and d.deal_id = l.canonical_id and d.is_deleted)`,
  'portal companies': `select coalesce(${PORTAL_COMPANY_KEY}, 'ORIGIN_ID ' || coalesce(pc.fields ->> 'ORIGIN_ID', 'none')) as key,
      pc.fields - ${PORTAL_IDS} || jsonb_build_object('multifields', ${multifields('COMPANY', 'pc.id')}) as value
    from ${p('company')} pc where not ${OF_DELETED_COMPANY('pc')}`,
  'portal requisites': `select coalesce((select ${PORTAL_COMPANY_KEY} from ${p('company')} pc where pc.id = r.entity_id), 'no company') as key,
      r.fields - ${PORTAL_IDS} as value
    from ${p('requisite')} r where not exists (select from ${p('company')} pc where pc.id = r.entity_id and ${OF_DELETED_COMPANY('pc')})`,
  // NAME is written when the bank detail is created and never updated (the pusher keeps only the
  // RQ_* values in etl.crm_link.pushed): it names the bank of the first version pushed, which
  // depends on when the push ran, not on a crash
  'portal bank details': `select coalesce((select ${PORTAL_COMPANY_KEY} from ${p('requisite')} r join ${p('company')} pc on pc.id = r.entity_id where r.id = b.requisite_id), 'no company') as key,
      b.fields - ${PORTAL_IDS} - 'NAME' as value
    from ${p('bank_detail')} b
    where not exists (select from ${p('requisite')} r join ${p('company')} pc on pc.id = r.entity_id where r.id = b.requisite_id and ${OF_DELETED_COMPANY('pc')})`,
  'portal addresses': `select coalesce(case a.entity_type_id
        when 8 then (select ${PORTAL_COMPANY_KEY} from ${p('requisite')} r join ${p('company')} pc on pc.id = r.entity_id where r.id = a.entity_id)
        when 4 then (select ${PORTAL_COMPANY_KEY} from ${p('company')} pc where pc.id = a.entity_id) end, 'no company')
        || ' type ' || a.type_id || ' of ' || a.entity_type_id as key,
      a.fields - ${PORTAL_IDS} as value
    from ${p('address')} a
    where not exists (select from ${p('requisite')} r join ${p('company')} pc on pc.id = r.entity_id where a.entity_type_id = 8 and r.id = a.entity_id and ${OF_DELETED_COMPANY('pc')})
      and not exists (select from ${p('company')} pc where a.entity_type_id = 4 and pc.id = a.entity_id and ${OF_DELETED_COMPANY('pc')})`,
  'portal contacts': `select coalesce((select ${LINEAGE} from canonical.contact k where k.contact_id::text = pk.fields ->> 'ORIGIN_ID'),
                                      'ORIGIN_ID ' || coalesce(pk.fields ->> 'ORIGIN_ID', 'none')) as key,
      pk.fields - ${PORTAL_IDS} || jsonb_build_object('multifields', ${multifields('CONTACT', 'pk.id')},
        'company', (select ${PORTAL_COMPANY_KEY} from ${p('company')} pc where pc.id::text = pk.fields ->> 'COMPANY_ID'),
        'companies', (select jsonb_agg((select ${PORTAL_COMPANY_KEY} from ${p('company')} pc where pc.id = cc.company_id) order by cc.sort, cc.company_id)
                      from ${p('contact_company')} cc where cc.contact_id = pk.id)) as value
    from ${p('contact')} pk where not ${OF_DELETED_CONTACT('pk')}`,
  'portal deals': `select coalesce(${DEAL_KEY("pd.fields ->> 'ORIGIN_ID'")}, 'ORIGIN_ID ' || coalesce(pd.fields ->> 'ORIGIN_ID', 'none')) as key,
      pd.fields - ${PORTAL_IDS} || jsonb_build_object(
        'company', (select ${PORTAL_COMPANY_KEY} from ${p('company')} pc where pc.id::text = pd.fields ->> 'COMPANY_ID'),
        'contact', (select ${LINEAGE} from ${p('contact')} pk join canonical.contact k on k.contact_id::text = pk.fields ->> 'ORIGIN_ID'
                    where pk.id::text = coalesce(pd.fields -> 'CONTACT_IDS' ->> 0, pd.fields ->> 'CONTACT_ID')),
        'rows', (select jsonb_agg(r.fields - ${PORTAL_IDS} order by r.id) from ${p('deal_product_row')} r where r.deal_id = pd.id)) as value
    from ${p('deal')} pd where not ${OF_DELETED_DEAL('pd')}`,
};

export interface Difference {
  kind: string;
  key: string;
  what: 'lost' | 'doubled' | 'extra' | 'differs';
  detail: string;
}

export interface KindComparison {
  kind: string;
  /** Entities the uninterrupted run has. */
  reference: number;
  drill: number;
  differences: number;
}

type Rows = Map<string, unknown[]>;

/** A field the portal holds empty is one it does not hold: a cleared KPP is "" after an update, absent on a company created without. */
function withoutEmpty(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== '' && v !== null));
}

async function read(pool: pg.Pool, sql: string): Promise<Rows> {
  const { rows } = await pool.query<{ key: string; value: unknown }>(sql);
  const byKey: Rows = new Map();
  for (const row of rows) {
    const list = byKey.get(row.key) ?? [];
    list.push(withoutEmpty(row.value));
    byKey.set(row.key, list);
  }
  return byKey;
}

/** The top-level fields whose values differ, as `field: reference → drill`. */
function fieldsApart(reference: unknown, drill: unknown): string {
  if (typeof reference !== 'object' || typeof drill !== 'object' || reference === null || drill === null) {
    return `${JSON.stringify(reference)} → ${JSON.stringify(drill)}`;
  }
  const a = reference as Record<string, unknown>;
  const b = drill as Record<string, unknown>;
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !isDeepStrictEqual(a[k], b[k]))
    .map((k) => `${k}: ${JSON.stringify(a[k])?.slice(0, 160)} → ${JSON.stringify(b[k])?.slice(0, 160)}`).join('; ');
}

const sortValues = (values: unknown[]) => values.map((v) => JSON.stringify(v)).sort();

/** Compares every kind of the drill's warehouse and portal with the uninterrupted run's. */
export async function compareRuns(reference: pg.Pool, drill: pg.Pool): Promise<{ kinds: KindComparison[]; differences: Difference[] }> {
  const kinds: KindComparison[] = [];
  const differences: Difference[] = [];
  for (const [kind, sql] of Object.entries(KINDS)) {
    const [ref, ours] = [await read(reference, sql), await read(drill, sql)];
    const count = (rows: Rows) => [...rows.values()].reduce((n, list) => n + list.length, 0);
    const found: Difference[] = [];
    for (const [key, refValues] of ref) {
      const drillValues = ours.get(key) ?? [];
      if (drillValues.length < refValues.length) {
        found.push({ kind, key, what: 'lost', detail: `${refValues.length} in the uninterrupted run, ${drillValues.length} in the drill` });
      } else if (drillValues.length > refValues.length) {
        found.push({ kind, key, what: 'doubled', detail: `${refValues.length} in the uninterrupted run, ${drillValues.length} in the drill` });
      } else if (!isDeepStrictEqual(sortValues(refValues), sortValues(drillValues))) {
        const detail = refValues.length === 1 ? fieldsApart(refValues[0], drillValues[0]) : `${sortValues(refValues).join(' | ')} → ${sortValues(drillValues).join(' | ')}`;
        found.push({ kind, key, what: 'differs', detail });
      }
    }
    for (const [key, drillValues] of ours) {
      if (!ref.has(key)) found.push({ kind, key, what: 'extra', detail: `${drillValues.length} in the drill, none in the uninterrupted run: ${JSON.stringify(drillValues[0]).slice(0, 300)}` });
    }
    kinds.push({ kind, reference: count(ref), drill: count(ours), differences: found.length });
    differences.push(...found);
  }
  return { kinds, differences };
}
