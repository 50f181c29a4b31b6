import { listRows } from './list.js';
import type { Handler } from './method.js';

const FIELDS = new Set(['ID', 'ENTITY_ID', 'STATUS_ID', 'NAME', 'NAME_INIT', 'SORT', 'SYSTEM', 'CATEGORY_ID', 'COLOR', 'SEMANTICS']);

/** crm.status.list: a directory's entries (schema/005_crm_status.sql), by ENTITY_ID and SORT unless ordered otherwise. */
export const statusMethods: Record<string, Handler> = {
  async 'crm.status.list'(ctx, params) {
    return listRows(ctx.db, {
      table: 'crm_status',
      fields: FIELDS,
      numeric: new Set(['SORT']),
      roundOffset: true,
      idColumn: 'id',
      defaultOrder: `fields ->> 'ENTITY_ID', (fields ->> 'SORT')::integer, id`,
      toRow: (row) => ({ ID: row.id, ...row.fields }),
    }, params);
  },
};
