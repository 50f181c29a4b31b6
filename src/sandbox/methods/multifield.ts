import type pg from 'pg';
import { errors } from '../envelope.js';
import { isObject } from './method.js';

/** Phones, e-mails and the like (DOCS crm/data-types.md#crm_multifield). */
export const MULTIFIELD_TYPES: Record<string, readonly string[]> = {
  PHONE: ['WORK', 'MOBILE', 'FAX', 'HOME', 'PAGER', 'MAILING', 'OTHER'],
  EMAIL: ['WORK', 'HOME', 'MAILING', 'OTHER'],
  WEB: ['WORK', 'HOME', 'VK', 'LIVEJOURNAL', 'TWITTER', 'OTHER'],
  IM: ['TELEGRAM', 'VK', 'SKYPE', 'VIBER', 'BITRIX24', 'OPENLINE', 'IMOL', 'ICQ', 'MSN', 'JABBER', 'OTHER'],
  LINK: ['USER', 'OTHER'],
};

export type Owner = 'COMPANY' | 'CONTACT';

export interface MultifieldItem {
  ID?: unknown;
  VALUE?: unknown;
  VALUE_TYPE?: unknown;
  DELETE?: unknown;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function items(value: unknown): MultifieldItem[] {
  const list = Array.isArray(value) ? value : isObject(value) ? Object.values(value) : [];
  return list.filter(isObject) as MultifieldItem[];
}

function valueType(type: string, wanted: unknown): string {
  const text = String(wanted ?? '').toUpperCase();
  return MULTIFIELD_TYPES[type]!.includes(text) ? text : 'WORK';
}

function checkValue(type: string, value: string): void {
  if (type === 'EMAIL' && !EMAIL.test(value)) throw errors.invalidEmail();
}

/** Validates every multifield in `fields` before anything is written, as the entity layer does. */
export function checkMultifields(fields: Record<string, unknown>): void {
  for (const type of Object.keys(MULTIFIELD_TYPES)) {
    for (const item of items(fields[type])) {
      const value = item.VALUE === undefined || item.VALUE === null ? '' : String(item.VALUE);
      if (value !== '' && item.DELETE !== 'Y') checkValue(type, value.trim());
    }
  }
}

/**
 * Writes the multifields of `fields` for one entity. An item without ID is added; with an ID
 * it changes that value, or deletes it when `DELETE:"Y"`, VALUE is empty or absent; values
 * not mentioned stay (crm.contact.update docs).
 */
export async function writeMultifields(db: pg.PoolClient, owner: Owner, elementId: number, fields: Record<string, unknown>): Promise<void> {
  for (const type of Object.keys(MULTIFIELD_TYPES)) {
    for (const item of items(fields[type])) {
      const value = item.VALUE === undefined || item.VALUE === null ? '' : String(item.VALUE).trim();
      const id = Number.parseInt(String(item.ID ?? ''), 10);
      if (Number.isFinite(id) && id > 0) {
        const mine = 'entity_id = $2 and element_id = $3 and type_id = $4';
        if (item.DELETE === 'Y' || value === '') {
          await db.query(`delete from multifield where id = $1 and ${mine}`, [id, owner, elementId, type]);
        } else {
          await db.query(
            `update multifield set value = $5, value_type = coalesce($6, value_type) where id = $1 and ${mine}`,
            [id, owner, elementId, type, value, item.VALUE_TYPE === undefined ? null : valueType(type, item.VALUE_TYPE)],
          );
        }
      } else if (value !== '') {
        await db.query(
          'insert into multifield (entity_id, element_id, type_id, value_type, value) values ($1, $2, $3, $4, $5)',
          [owner, elementId, type, valueType(type, item.VALUE_TYPE), value],
        );
      }
    }
  }
}

/** An entity's multifields keyed by type, in the order they were added. */
export async function readMultifields(db: pg.PoolClient, owner: Owner, ids: number[]): Promise<Map<number, Record<string, unknown[]>>> {
  const byElement = new Map<number, Record<string, unknown[]>>();
  if (ids.length === 0) return byElement;
  const { rows } = await db.query<{ id: string; element_id: string; type_id: string; value_type: string; value: string }>(
    'select id, element_id, type_id, value_type, value from multifield where entity_id = $1 and element_id = any($2::bigint[]) order by id',
    [owner, ids],
  );
  for (const row of rows) {
    const element = Number(row.element_id);
    const types = byElement.get(element) ?? {};
    (types[row.type_id] ??= []).push({ ID: row.id, VALUE_TYPE: row.value_type, VALUE: row.value, TYPE_ID: row.type_id });
    byElement.set(element, types);
  }
  return byElement;
}

/**
 * A list filter on PHONE or EMAIL matches a value exactly (crm-company-list.md). `idColumn`
 * names the listed table's id qualified (`company.id`): inside the subquery a bare `id` is
 * the multifield's own.
 */
export function multifieldFilter(owner: Owner, idColumn: string) {
  return (field: string, placeholder = ''): string | null =>
    field in MULTIFIELD_TYPES
      ? `exists (select 1 from multifield m where m.entity_id = '${owner}' and m.element_id = ${idColumn} and m.type_id = '${field}' and m.value = ${placeholder})`
      : null;
}
