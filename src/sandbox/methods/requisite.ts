import { crmError, errors, isoWithOffset } from '../envelope.js';
import { applySelect, listRows, selectList } from './list.js';
import { fieldsParam, idParam, knownFields, requiredId, type Handler, type MethodContext, type Params } from './method.js';

const REQUISITE_FIELDS = new Set([
  'ENTITY_TYPE_ID', 'ENTITY_ID', 'PRESET_ID', 'NAME', 'CODE', 'XML_ID', 'ORIGINATOR_ID', 'ACTIVE', 'ADDRESS_ONLY', 'SORT',
  'RQ_INN', 'RQ_KPP', 'RQ_OGRN', 'RQ_OGRNIP', 'RQ_COMPANY_NAME', 'RQ_COMPANY_FULL_NAME', 'RQ_COMPANY_REG_DATE', 'RQ_DIRECTOR',
  'RQ_ACCOUNTANT', 'RQ_FIRST_NAME', 'RQ_LAST_NAME', 'RQ_SECOND_NAME', 'RQ_NAME', 'RQ_OKPO', 'RQ_OKTMO', 'RQ_OKVED', 'RQ_EMAIL',
  'RQ_PHONE', 'RQ_FAX', 'RQ_CONTACT', 'RQ_IDENT_DOC', 'RQ_IDENT_DOC_SER', 'RQ_IDENT_DOC_NUM', 'RQ_IDENT_DOC_DATE',
  'RQ_IDENT_DOC_ISSUED_BY', 'RQ_IDENT_DOC_DEP_CODE', 'RQ_VAT_PAYER', 'RQ_VAT_ID', 'RQ_OKOGU', 'RQ_OKFS', 'RQ_OKOPF',
]);

const BANK_DETAIL_FIELDS = new Set([
  'ENTITY_ID', 'COUNTRY_ID', 'NAME', 'CODE', 'XML_ID', 'ACTIVE', 'SORT', 'COMMENTS', 'ORIGINATOR_ID', 'RQ_BANK_NAME',
  'RQ_BANK_ADDR', 'RQ_BANK_ROUTE_NUM', 'RQ_BIK', 'RQ_MFO', 'RQ_ACC_NAME', 'RQ_ACC_NUM', 'RQ_ACC_CURRENCY', 'RQ_COR_ACC_NUM',
  'RQ_IBAN', 'RQ_SWIFT', 'RQ_BIC', 'RQ_CODEB', 'RQ_CODEG', 'RQ_RIB', 'RQ_AGENCY_NAME',
]);

const SYSTEM = ['ID', 'DATE_CREATE', 'DATE_MODIFY', 'CREATED_BY_ID', 'MODIFY_BY_ID'];
const ENTITY_TABLES: Record<number, string> = { 3: 'contact', 4: 'company' };

async function rowExists(ctx: MethodContext, table: string, id: number): Promise<boolean> {
  const { rowCount } = await ctx.db.query(`select 1 from ${table} where id = $1`, [id]);
  return (rowCount ?? 0) > 0;
}

/** NAME is required per crm-requisite-add.md; the message follows the other required fields' form. */
function requireName(fields: Record<string, unknown>): void {
  if (typeof fields.NAME !== 'string' || fields.NAME.trim() === '') throw crmError('NAME is not defined or invalid.');
}

function stamp(ctx: MethodContext, created: boolean): Record<string, unknown> {
  const now = isoWithOffset(ctx.now);
  const user = String(ctx.userId);
  return created ? { DATE_CREATE: now, DATE_MODIFY: null, CREATED_BY_ID: user, MODIFY_BY_ID: null } : { DATE_MODIFY: now, MODIFY_BY_ID: user };
}

/** add, update, get, list and delete of a table holding `fields`, like the requisite family does. */
function family(prefix: string, table: string, known: ReadonlySet<string>, check: (ctx: MethodContext, fields: Record<string, unknown>) => Promise<Record<string, unknown>>): Record<string, Handler> {
  const read = async (ctx: MethodContext, id: number) => {
    const { rows } = await ctx.db.query<{ fields: Record<string, unknown> }>(`select fields from ${table} where id = $1`, [id]);
    return rows[0] ? { ID: String(id), ...rows[0].fields } : null;
  };
  return {
    async [`${prefix}.add`](ctx, params) {
      const fields = knownFields(fieldsParam(params), known);
      const derived = await check(ctx, fields);
      const { rows } = await ctx.db.query<{ id: string }>(`select nextval(pg_get_serial_sequence('${table}', 'id')) as id`);
      const id = Number(rows[0]!.id);
      await ctx.db.query(`insert into ${table} (id, fields) values ($1, $2)`, [id, { ACTIVE: 'Y', SORT: '500', ...stamp(ctx, true), ...fields, ...derived }]);
      return { result: id };
    },
    async [`${prefix}.update`](ctx, params) {
      const id = idParam(params);
      const fields = knownFields(fieldsParam(params), known);
      const current = await read(ctx, id);
      if (!current) throw errors.notFound();
      const derived = await check(ctx, { ...current, ...fields });
      await ctx.db.query(`update ${table} set fields = fields || $2 where id = $1`, [id, { ...fields, ...derived, ...stamp(ctx, false) }]);
      return { result: true };
    },
    async [`${prefix}.get`](ctx, params) {
      const row = await read(ctx, idParam(params));
      if (!row) throw errors.notFound();
      return { result: row };
    },
    async [`${prefix}.delete`](ctx, params) {
      const id = idParam(params);
      if (!(await read(ctx, id))) throw errors.notFound();
      if (table === 'requisite') {
        await ctx.db.query('delete from bank_detail where requisite_id = $1', [id]);
        await ctx.db.query('delete from address where entity_type_id = 8 and entity_id = $1', [id]);
      }
      await ctx.db.query(`delete from ${table} where id = $1`, [id]);
      return { result: true };
    },
    async [`${prefix}.list`](ctx, params: Params) {
      const select = selectList(params);
      return listRows(ctx.db, {
        table,
        fields: new Set([...known, ...SYSTEM]),
        // requisite lists are ORM queries: `start` is taken as given
        roundOffset: false,
        idColumn: 'id',
        toRow: (row) => applySelect({ ID: row.id, ...row.fields }, select),
      }, params);
    },
  };
}

async function checkRequisite(ctx: MethodContext, fields: Record<string, unknown>): Promise<Record<string, unknown>> {
  const entityType = requiredId(fields, 'ENTITY_TYPE_ID');
  const table = ENTITY_TABLES[entityType];
  if (!table) throw crmError('ENTITY_TYPE_ID is not defined or invalid.');
  const entityId = requiredId(fields, 'ENTITY_ID');
  const presetId = requiredId(fields, 'PRESET_ID');
  if (!(await rowExists(ctx, 'requisite_preset', presetId))) throw crmError('PRESET_ID is not defined or invalid.');
  requireName(fields);
  if (!(await rowExists(ctx, table, entityId))) throw crmError('Entity not found.');
  return {};
}

/** A bank detail belongs to a requisite; its COUNTRY_ID follows the requisite's preset. */
async function checkBankDetail(ctx: MethodContext, fields: Record<string, unknown>): Promise<Record<string, unknown>> {
  const requisiteId = requiredId(fields, 'ENTITY_ID');
  const { rows } = await ctx.db.query<{ country_id: string }>(
    `select p.fields ->> 'COUNTRY_ID' as country_id from requisite r join requisite_preset p on p.id = (r.fields ->> 'PRESET_ID')::bigint where r.id = $1`,
    [requisiteId],
  );
  if (!rows[0]) throw crmError('ENTITY_ID is not defined or invalid.');
  requireName(fields);
  return { COUNTRY_ID: rows[0].country_id };
}

export const requisiteMethods: Record<string, Handler> = {
  ...family('crm.requisite', 'requisite', REQUISITE_FIELDS, checkRequisite),
  ...family('crm.requisite.bankdetail', 'bank_detail', BANK_DETAIL_FIELDS, checkBankDetail),
  async 'crm.requisite.preset.list'(ctx, params) {
    const select = selectList(params);
    return listRows(ctx.db, {
      table: 'requisite_preset',
      fields: new Set(['ENTITY_TYPE_ID', 'COUNTRY_ID', 'NAME', 'XML_ID', 'ACTIVE', 'SORT']),
      roundOffset: false,
      idColumn: 'id',
      toRow: (row) => applySelect(row.fields, select),
    }, params);
  },
};
