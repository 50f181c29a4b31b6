import { RestError } from '../envelope.js';
import { companySpec } from './company.js';
import { contactSpec } from './contact.js';
import { dealSpec } from './deal.js';
import type { EntitySpec } from './entity.js';
import { isObject, phpFloat } from './method.js';
import { MULTIFIELD_TYPES } from './multifield.js';

/**
 * How `crm.item.*` names and types the fields the legacy methods keep in UPPER_CASE
 * (DOCS crm/universal/object-fields.md): `ASSIGNED_BY_ID` is `assignedById`, a company's
 * `COMPANY_TYPE` is its `typeId`; values are typed (numbers, arrays), booleans stay `Y`/`N`.
 */

type Kind =
  | 'string'
  /** a number, or null */
  | 'int'
  /** an id that is 0, not null, when unset (`companyId`, `contactId`) */
  | 'link'
  | 'double'
  /** Y or N */
  | 'char'
  /** ISO-8601 with an offset */
  | 'date'
  /** a list of ids */
  | 'ids';

interface ItemField {
  legacy: string;
  kind: Kind;
  /** The portal sets it: ignored on add and update, accepted by import. */
  system?: boolean;
}

export interface ItemType {
  entityTypeId: number;
  spec: EntitySpec;
  fields: Record<string, ItemField>;
}

const field = (legacy: string, kind: Kind = 'string', system = false): ItemField => ({ legacy, kind, system });

const COMMON: Record<string, ItemField> = {
  id: field('ID', 'int', true),
  createdTime: field('DATE_CREATE', 'date', true),
  updatedTime: field('DATE_MODIFY', 'date', true),
  createdBy: field('CREATED_BY_ID', 'int', true),
  updatedBy: field('MODIFY_BY_ID', 'int', true),
  assignedById: field('ASSIGNED_BY_ID', 'int'),
  opened: field('OPENED', 'char'),
  comments: field('COMMENTS'),
  originatorId: field('ORIGINATOR_ID'),
  originId: field('ORIGIN_ID'),
  utmSource: field('UTM_SOURCE'),
  utmMedium: field('UTM_MEDIUM'),
  utmCampaign: field('UTM_CAMPAIGN'),
  utmContent: field('UTM_CONTENT'),
  utmTerm: field('UTM_TERM'),
};

/** Answers only: whether the entity has a phone or an e-mail. */
const HAS = { hasPhone: field('HAS_PHONE', 'char', true), hasEmail: field('HAS_EMAIL', 'char', true) };

const COMPANY: Record<string, ItemField> = {
  ...COMMON, ...HAS,
  title: field('TITLE'),
  typeId: field('COMPANY_TYPE'),
  industry: field('INDUSTRY'),
  employees: field('EMPLOYEES'),
  currencyId: field('CURRENCY_ID'),
  revenue: field('REVENUE', 'double'),
  isMyCompany: field('IS_MY_COMPANY', 'char'),
  bankingDetails: field('BANKING_DETAILS'),
  originVersion: field('ORIGIN_VERSION'),
  // read from the contacts' links; the sandbox links a company to contacts from the contact's side only
  contactIds: field('CONTACT_IDS', 'ids', true),
};

const CONTACT: Record<string, ItemField> = {
  ...COMMON, ...HAS,
  honorific: field('HONORIFIC'),
  name: field('NAME'),
  secondName: field('SECOND_NAME'),
  lastName: field('LAST_NAME'),
  photo: field('PHOTO'),
  birthdate: field('BIRTHDATE', 'date'),
  typeId: field('TYPE_ID'),
  sourceId: field('SOURCE_ID'),
  sourceDescription: field('SOURCE_DESCRIPTION'),
  post: field('POST'),
  export: field('EXPORT', 'char'),
  companyId: field('COMPANY_ID', 'link'),
  companyIds: field('COMPANY_IDS', 'ids'),
  originVersion: field('ORIGIN_VERSION'),
};

const DEAL: Record<string, ItemField> = {
  ...COMMON,
  // when the deal last changed stage: the portal's own, an import may set it (import/index.md)
  movedTime: field('MOVED_TIME', 'date', true),
  title: field('TITLE'),
  typeId: field('TYPE_ID'),
  categoryId: field('CATEGORY_ID', 'int'),
  stageId: field('STAGE_ID'),
  currencyId: field('CURRENCY_ID'),
  opportunity: field('OPPORTUNITY', 'double'),
  isManualOpportunity: field('IS_MANUAL_OPPORTUNITY', 'char'),
  taxValue: field('TAX_VALUE', 'double'),
  companyId: field('COMPANY_ID', 'link'),
  contactId: field('CONTACT_ID', 'link'),
  contactIds: field('CONTACT_IDS', 'ids'),
  begindate: field('BEGINDATE', 'date'),
  closedate: field('CLOSEDATE', 'date'),
  closed: field('CLOSED', 'char'),
  sourceId: field('SOURCE_ID'),
  sourceDescription: field('SOURCE_DESCRIPTION'),
  probability: field('PROBABILITY', 'int'),
  isReturnCustomer: field('IS_RETURN_CUSTOMER', 'char'),
};

const TYPES: Record<number, ItemType> = {
  2: { entityTypeId: 2, spec: dealSpec, fields: DEAL },
  3: { entityTypeId: 3, spec: contactSpec, fields: CONTACT },
  4: { entityTypeId: 4, spec: companySpec, fields: COMPANY },
};

/** The entity type of a crm.item.* call, or NOT_FOUND as the portal answers a bad entityTypeId. */
export function itemTypeOf(params: Record<string, unknown>): ItemType {
  const type = TYPES[Number(params.entityTypeId ?? params.ENTITY_TYPE_ID)];
  if (!type) throw new RestError(400, 'NOT_FOUND', 'Смарт-процесс не найден');
  return type;
}

/** The legacy name of a camelCase field the type has, or null. */
export function legacyName(type: ItemType, name: string): string | null {
  return type.fields[name]?.legacy ?? null;
}

/** `true`, `"true"`, `"y"` and `"Y"` are Y, anything else N (object-fields.md "Форматы значений"). */
const yesNo = (value: unknown) => (value === true || value === 'true' || value === 'y' || value === 'Y' ? 'Y' : 'N');

/**
 * `fm` entries as the legacy PHONE/EMAIL/... lists. On update an entry keyed (or carrying
 * `id`) by an existing value's id changes it; any other is added. An entry without a known
 * typeId is ignored, as the portal ignores it (how-to-change-email-or-phone.md).
 */
function multifieldsOf(fm: unknown): Record<string, unknown[]> {
  const entries = Array.isArray(fm) ? fm.map((e, i) => [String(i), e] as const) : isObject(fm) ? Object.entries(fm) : [];
  const lists: Record<string, unknown[]> = {};
  for (const [key, entry] of entries) {
    if (!isObject(entry)) continue;
    const type = String(entry.typeId ?? '').toUpperCase();
    if (!(type in MULTIFIELD_TYPES)) continue;
    const id = /^\d+$/.test(key) && !Array.isArray(fm) ? key : entry.id;
    (lists[type] ??= []).push({ ...(id !== undefined ? { ID: id } : {}), VALUE: entry.value ?? '', VALUE_TYPE: entry.valueType });
  }
  return lists;
}

/**
 * crm.item fields as the legacy entity layer takes them. Unknown names are ignored, as the
 * portal ignores them; the system fields are taken only by import.
 */
export function toLegacy(type: ItemType, item: Record<string, unknown>, importing = false): Record<string, unknown> {
  const legacy: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) {
    if (name === 'fm') continue;
    const known = type.fields[name];
    if (!known || (known.system && !(importing && name !== 'id'))) continue;
    legacy[known.legacy] = known.kind === 'char' ? yesNo(value) : value;
  }
  return { ...legacy, ...multifieldsOf(item.fm) };
}

function typed(kind: Kind, value: unknown): unknown {
  if (kind === 'ids') return Array.isArray(value) ? value.map(Number) : [];
  if (kind === 'link') return value === null || value === undefined || value === '' ? 0 : Number(value);
  if (value === null || value === undefined) return null;
  if (kind === 'int') return value === '' ? null : Number(value);
  if (kind === 'double') return phpFloat(value);
  return value;
}

/**
 * A legacy entity (as get reads it, multifields included) as crm.item answers it: every field
 * typed, `fm` with every phone and e-mail, the flat first-value aliases and `entityTypeId`.
 */
export function toItem(type: ItemType, entity: Record<string, unknown>): Record<string, unknown> {
  const item: Record<string, unknown> = {};
  for (const [name, known] of Object.entries(type.fields)) item[name] = typed(known.kind, entity[known.legacy]);
  const values = Object.keys(MULTIFIELD_TYPES).flatMap((t) => (Array.isArray(entity[t]) ? entity[t] : []) as Array<Record<string, string>>);
  if (type.spec.owner !== 'DEAL') {
    const first = (typeId: string, valueType?: string) =>
      values.find((v) => v.TYPE_ID === typeId && (valueType === undefined || v.VALUE_TYPE === valueType))?.VALUE ?? '';
    Object.assign(item, {
      phone: first('PHONE'), phoneWork: first('PHONE', 'WORK'), phoneMobile: first('PHONE', 'MOBILE'), phoneMailing: first('PHONE', 'MAILING'),
      email: first('EMAIL'), emailWork: first('EMAIL', 'WORK'), emailHome: first('EMAIL', 'HOME'), emailMailing: first('EMAIL', 'MAILING'),
      fm: values
        .map((v) => ({ id: Number(v.ID), valueType: v.VALUE_TYPE, value: v.VALUE, typeId: v.TYPE_ID }))
        .sort((a, b) => a.id - b.id),
    });
  }
  item.entityTypeId = type.entityTypeId;
  return item;
}
