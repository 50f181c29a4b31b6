import { crmError, errors } from '../envelope.js';
import { applySelect, everyField, listRows, selectList } from './list.js';
import { fieldsParam, knownFields, requiredId, type Handler, type MethodContext } from './method.js';

/** crm.enum.addresstype: 1 actual, 4 registration, 6 legal, 8 correspondence, 9 beneficiary, 11 delivery. */
const ADDRESS_TYPES: Record<number, string> = {
  1: 'Фактический адрес', 4: 'Адрес регистрации', 6: 'Юридический адрес', 8: 'Адрес для корреспонденции',
  9: 'Адрес бенефициара', 11: 'Адрес доставки',
};
/** crm.enum.ownertype (crm-enum-owner-type.md). */
const OWNER_TYPES: Array<[number, string, string]> = [
  [1, 'L', 'Лид'], [2, 'D', 'Сделка'], [3, 'C', 'Контакт'], [4, 'CO', 'Компания'], [7, 'Q', 'Предложение'],
  [8, 'RQ', 'Реквизит'], [31, 'SI', 'Счёт'],
];
/** What crm.address.list returns for an address, in the docs' order (crm-address-list.md). */
const ADDRESS_FIELDS = [
  'TYPE_ID', 'ENTITY_TYPE_ID', 'ENTITY_ID', 'ADDRESS_1', 'ADDRESS_2', 'CITY', 'POSTAL_CODE', 'REGION', 'PROVINCE', 'COUNTRY',
  'COUNTRY_CODE', 'LOC_ADDR_ID', 'ANCHOR_TYPE_ID', 'ANCHOR_ID',
] as const;
/** The anchor (the requisite's owner) is the portal's to set. */
const FIELDS = new Set(ADDRESS_FIELDS.filter((name) => !name.startsWith('ANCHOR_')));

interface Key {
  typeId: number;
  entityTypeId: number;
  entityId: number;
}

/** An address is identified by (TYPE_ID, ENTITY_TYPE_ID, ENTITY_ID): 8 = a requisite, 1 = a lead. */
async function addressKey(ctx: MethodContext, fields: Record<string, unknown>): Promise<Key & { anchor: Record<string, unknown> }> {
  const typeId = requiredId(fields, 'TYPE_ID');
  if (!ADDRESS_TYPES[typeId]) throw crmError('TYPE_ID is not defined or invalid.');
  const entityTypeId = requiredId(fields, 'ENTITY_TYPE_ID');
  if (entityTypeId !== 8 && entityTypeId !== 1) throw crmError('ENTITY_TYPE_ID is not defined or invalid.');
  const entityId = requiredId(fields, 'ENTITY_ID');
  if (entityTypeId === 1) return { typeId, entityTypeId, entityId, anchor: { ANCHOR_TYPE_ID: '1', ANCHOR_ID: String(entityId) } };
  const { rows } = await ctx.db.query<{ entity_type_id: number; entity_id: string }>('select entity_type_id, entity_id from requisite where id = $1', [entityId]);
  if (!rows[0]) throw crmError('Entity not found.');
  return { typeId, entityTypeId, entityId, anchor: { ANCHOR_TYPE_ID: String(rows[0].entity_type_id), ANCHOR_ID: String(rows[0].entity_id) } };
}

export const addressMethods: Record<string, Handler> = {
  /** Returns `true`, not an id; a second address of one type for one owner is "TypeAddress exists". */
  async 'crm.address.add'(ctx, params) {
    const fields = knownFields(fieldsParam(params), FIELDS);
    const key = await addressKey(ctx, fields);
    const stored = { ...fields, TYPE_ID: String(key.typeId), ENTITY_TYPE_ID: String(key.entityTypeId), ENTITY_ID: String(key.entityId), ...key.anchor };
    const { rowCount } = await ctx.db.query(
      'insert into address (type_id, entity_type_id, entity_id, fields) values ($1, $2, $3, $4) on conflict do nothing',
      [key.typeId, key.entityTypeId, key.entityId, stored],
    );
    if (!rowCount) throw crmError('TypeAddress exists');
    return { result: true };
  },
  async 'crm.address.update'(ctx, params) {
    const fields = knownFields(fieldsParam(params), FIELDS);
    const key = await addressKey(ctx, fields);
    const { rowCount } = await ctx.db.query(
      'update address set fields = fields || $4 where type_id = $1 and entity_type_id = $2 and entity_id = $3',
      [key.typeId, key.entityTypeId, key.entityId, { ...fields, TYPE_ID: String(key.typeId), ENTITY_TYPE_ID: String(key.entityTypeId), ENTITY_ID: String(key.entityId) }],
    );
    if (!rowCount) throw errors.notFound();
    return { result: true };
  },
  async 'crm.address.delete'(ctx, params) {
    const fields = knownFields(fieldsParam(params), FIELDS);
    const key = await addressKey(ctx, fields);
    const { rowCount } = await ctx.db.query('delete from address where type_id = $1 and entity_type_id = $2 and entity_id = $3', [key.typeId, key.entityTypeId, key.entityId]);
    if (!rowCount) throw errors.notFound();
    return { result: true };
  },
  async 'crm.address.list'(ctx, params) {
    const select = selectList(params);
    return listRows(ctx.db, {
      table: 'address',
      fields: new Set(ADDRESS_FIELDS),
      roundOffset: false,
      defaultOrder: 'entity_type_id, entity_id, type_id',
      toRow: (row) => applySelect(everyField(ADDRESS_FIELDS, row.fields), select, []),
    }, params);
  },
  async 'crm.enum.addresstype'() {
    return { result: Object.entries(ADDRESS_TYPES).map(([id, name]) => ({ ID: Number(id), NAME: name })) };
  },
  async 'crm.enum.ownertype'() {
    return { result: OWNER_TYPES.map(([id, symbol, name]) => ({ ID: id, NAME: name, SYMBOL_CODE: symbol, SYMBOL_CODE_SHORT: symbol })) };
  },
};
