import { crmError, isoWithOffset } from '../envelope.js';
import { applySelect, everyField, listRows, selectList } from './list.js';
import { fieldsParam, idParam, knownFields, requiredId, type Handler, type MethodContext, type Params } from './method.js';

/** What the docs' example of crm.requisite.get returns, in its order: every field, null when never written. */
export const REQUISITE_FIELDS = [
  'ID', 'ENTITY_TYPE_ID', 'ENTITY_ID', 'PRESET_ID', 'DATE_CREATE', 'DATE_MODIFY', 'CREATED_BY_ID', 'MODIFY_BY_ID', 'NAME', 'CODE',
  'XML_ID', 'ORIGINATOR_ID', 'ACTIVE', 'ADDRESS_ONLY', 'SORT', 'RQ_NAME', 'RQ_FIRST_NAME', 'RQ_LAST_NAME', 'RQ_SECOND_NAME',
  'RQ_COMPANY_ID', 'RQ_COMPANY_NAME', 'RQ_COMPANY_FULL_NAME', 'RQ_COMPANY_REG_DATE', 'RQ_DIRECTOR', 'RQ_ACCOUNTANT', 'RQ_CEO_NAME',
  'RQ_CEO_WORK_POS', 'RQ_CONTACT', 'RQ_EMAIL', 'RQ_PHONE', 'RQ_FAX', 'RQ_IDENT_TYPE', 'RQ_IDENT_DOC', 'RQ_IDENT_DOC_SER',
  'RQ_IDENT_DOC_NUM', 'RQ_IDENT_DOC_PERS_NUM', 'RQ_IDENT_DOC_DATE', 'RQ_IDENT_DOC_ISSUED_BY', 'RQ_IDENT_DOC_DEP_CODE', 'RQ_INN',
  'RQ_KPP', 'RQ_USRLE', 'RQ_IFNS', 'RQ_OGRN', 'RQ_OGRNIP', 'RQ_OKPO', 'RQ_OKTMO', 'RQ_OKVED', 'RQ_EDRPOU', 'RQ_DRFO', 'RQ_KBE',
  'RQ_IIN', 'RQ_BIN', 'RQ_ST_CERT_SER', 'RQ_ST_CERT_NUM', 'RQ_ST_CERT_DATE', 'RQ_VAT_PAYER', 'RQ_VAT_ID', 'RQ_VAT_CERT_SER',
  'RQ_VAT_CERT_NUM', 'RQ_VAT_CERT_DATE', 'RQ_RESIDENCE_COUNTRY', 'RQ_BASE_DOC', 'RQ_REGON', 'RQ_KRS', 'RQ_PESEL', 'RQ_LEGAL_FORM',
  'RQ_SIRET', 'RQ_SIREN', 'RQ_CAPITAL', 'RQ_RCS', 'RQ_CNPJ', 'RQ_STATE_REG', 'RQ_MNPL_REG', 'RQ_CPF',
] as const;

/** The same for crm.requisite.bankdetail.get. */
const BANK_DETAIL_FIELDS = [
  'ID', 'ENTITY_ID', 'COUNTRY_ID', 'DATE_CREATE', 'DATE_MODIFY', 'CREATED_BY_ID', 'MODIFY_BY_ID', 'NAME', 'CODE', 'XML_ID',
  'ORIGINATOR_ID', 'ACTIVE', 'SORT', 'RQ_BANK_NAME', 'RQ_BANK_CODE', 'RQ_BANK_ADDR', 'RQ_BANK_ROUTE_NUM', 'RQ_BIK', 'RQ_MFO',
  'RQ_ACC_NAME', 'RQ_ACC_NUM', 'RQ_ACC_TYPE', 'RQ_IIK', 'RQ_ACC_CURRENCY', 'RQ_COR_ACC_NUM', 'RQ_IBAN', 'RQ_SWIFT', 'RQ_BIC',
  'RQ_CODEB', 'RQ_CODEG', 'RQ_RIB', 'RQ_AGENCY_NAME', 'COMMENTS',
] as const;

/** Set by the portal, never by a client (outside import). */
const SYSTEM = ['ID', 'DATE_CREATE', 'DATE_MODIFY', 'CREATED_BY_ID', 'MODIFY_BY_ID'];

interface Family {
  table: string;
  /** "The Requisite with ID '27' is not found" and the like (crm-requisite-get.md). */
  entityName: string;
  /** Every field a read returns, in order. */
  fields: readonly string[];
  /** What a new row holds unless given. */
  defaults: Record<string, unknown>;
  /** Validates a row about to be written; returns fields the portal derives. */
  check(ctx: MethodContext, fields: Record<string, unknown>): Promise<Record<string, unknown>>;
}

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
  // a new row's DATE_MODIFY is "" and MODIFY_BY_ID null (crm-requisite-get.md, crm-requisite-bank-detail-get.md)
  return created ? { DATE_CREATE: now, DATE_MODIFY: '', CREATED_BY_ID: user, MODIFY_BY_ID: null } : { DATE_MODIFY: now, MODIFY_BY_ID: user };
}

/** add, update, get, list and delete of a table holding `fields`, like the requisite family does. */
function family(prefix: string, spec: Family): Record<string, Handler> {
  const { table } = spec;
  const writable = new Set(spec.fields.filter((name) => !SYSTEM.includes(name)));
  const notFound = (id: number) => crmError(`The ${spec.entityName} with ID '${id}' is not found`);
  const read = async (ctx: MethodContext, id: number) => {
    const { rows } = await ctx.db.query<{ fields: Record<string, unknown> }>(`select fields from ${table} where id = $1`, [id]);
    return rows[0] ? everyField(spec.fields, { ...rows[0].fields, ID: String(id) }) : null;
  };
  return {
    async [`${prefix}.add`](ctx, params) {
      const fields = knownFields(fieldsParam(params), writable);
      const derived = await spec.check(ctx, fields);
      const { rows } = await ctx.db.query<{ id: string }>(`select nextval(pg_get_serial_sequence('${table}', 'id')) as id`);
      const id = Number(rows[0]!.id);
      await ctx.db.query(`insert into ${table} (id, fields) values ($1, $2)`, [id, { ...spec.defaults, ...stamp(ctx, true), ...fields, ...derived }]);
      return { result: id };
    },
    async [`${prefix}.update`](ctx, params) {
      const id = idParam(params);
      const fields = knownFields(fieldsParam(params), writable);
      const current = await read(ctx, id);
      if (!current) throw notFound(id);
      const derived = await spec.check(ctx, { ...current, ...fields });
      await ctx.db.query(`update ${table} set fields = fields || $2 where id = $1`, [id, { ...fields, ...derived, ...stamp(ctx, false) }]);
      return { result: true };
    },
    async [`${prefix}.get`](ctx, params) {
      const id = idParam(params);
      const row = await read(ctx, id);
      if (!row) throw notFound(id);
      return { result: row };
    },
    async [`${prefix}.delete`](ctx, params) {
      const id = idParam(params);
      if (!(await read(ctx, id))) throw notFound(id);
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
        fields: new Set(spec.fields),
        // requisite lists are ORM queries: `start` is taken as given
        roundOffset: false,
        idColumn: 'id',
        toRow: (row) => applySelect(everyField(spec.fields, { ...row.fields, ID: row.id }), select),
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
  ...family('crm.requisite', {
    table: 'requisite', entityName: 'Requisite', fields: REQUISITE_FIELDS, check: checkRequisite,
    // the defaults the docs' example shows for a requisite given none of them
    defaults: { ACTIVE: 'Y', ADDRESS_ONLY: 'N', SORT: '500', RQ_VAT_PAYER: 'N' },
  }),
  ...family('crm.requisite.bankdetail', {
    table: 'bank_detail', entityName: 'RequisiteBankDetail', fields: BANK_DETAIL_FIELDS, check: checkBankDetail,
    defaults: { ACTIVE: 'Y', SORT: '500' },
  }),
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
