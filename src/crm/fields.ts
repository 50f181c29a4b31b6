/**
 * Canonical rows (etl.crm_company_out, etl.crm_contact_out) in Bitrix24's terms: the legacy
 * crm.* fields (UPPER_CASE, multifields as {VALUE, VALUE_TYPE}) and crm.item's for import
 * mode (camelCase, multifields as `fm`), the requisite by its preset, its bank detail and the
 * legal address. ORIGINATOR_ID / ORIGIN_ID carry our ids, so an add whose answer was lost is
 * found again.
 */

import { parsePhone } from '../transform/phones.js';

export const ORIGINATOR = 'b2b-etl';

/** Requisite presets by XML_ID (fixed in the CRM module; their IDs differ from portal to portal). */
export const PRESET_XML_IDS = {
  company: '#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#',
  individual: '#CRM_REQUISITE_PRESET_DEF_RU_INDIVIDUAL#',
} as const;

/** Owner and address types (crm.enum.ownertype, crm.enum.addresstype). */
export const ENTITY_TYPE = { contact: 3, company: 4, requisite: 8 } as const;
export const LEGAL_ADDRESS = 6;

export interface CompanyOut {
  company_id: string;
  inn: string;
  title: string;
  phones: string[];
  emails: string[];
  preset: 'company' | 'individual';
  rq_kpp: string | null;
  rq_ogrn: string | null;
  rq_ogrnip: string | null;
  rq_company_name: string | null;
  rq_company_full_name: string | null;
  rq_last_name: string | null;
  rq_first_name: string | null;
  rq_second_name: string | null;
  bank_bik: string | null;
  bank_account: string | null;
  bank_corr_account: string | null;
  bank_name: string | null;
  legal_address: string | null;
  out_hash: string;
}

export interface ContactOut {
  contact_id: string;
  company_id: string;
  first_name: string | null;
  last_name: string | null;
  middle_name: string | null;
  position: string | null;
  phones: string[];
  emails: string[];
  out_hash: string;
}

type Fields = Record<string, string>;

/** What was last pushed of a company: only these values are ever changed or removed later. */
export interface PushedCompany {
  title: string | null;
  phones: string[];
  emails: string[];
  requisite: Fields | null;
  bank: Fields | null;
  address: Fields | null;
}

export interface PushedContact {
  fields: Fields;
  phones: string[];
  emails: string[];
  /** The company (Bitrix id) the contact was pushed under. */
  companyId: number | null;
}

const clean = (fields: Record<string, string | null | undefined>): Fields =>
  Object.fromEntries(Object.entries(fields).filter((e): e is [string, string] => e[1] !== null && e[1] !== undefined && e[1] !== ''));

export function multifield(values: string[]): Array<{ VALUE: string; VALUE_TYPE: string }> {
  return values.map((value) => ({ VALUE: value, VALUE_TYPE: 'WORK' }));
}

function fm(phones: string[], emails: string[]): Array<{ typeId: string; valueType: string; value: string }> {
  return [
    ...phones.map((value) => ({ typeId: 'PHONE', valueType: 'WORK', value })),
    ...emails.map((value) => ({ typeId: 'EMAIL', valueType: 'WORK', value })),
  ];
}

/** crm.item fields of a company for crm.item.batchImport (entityTypeId 4). */
export function companyImportItem(c: CompanyOut): Record<string, unknown> {
  return { title: c.title, fm: fm(c.phones, c.emails), originatorId: ORIGINATOR, originId: c.company_id };
}

/** crm.company.add fields. */
export function companyAddFields(c: CompanyOut): Record<string, unknown> {
  return { TITLE: c.title, PHONE: multifield(c.phones), EMAIL: multifield(c.emails), ORIGINATOR_ID: ORIGINATOR, ORIGIN_ID: c.company_id };
}

/** The RQ_* fields of the company's requisite (by its preset: an organisation or an entrepreneur). */
export function requisiteValues(c: CompanyOut): Fields {
  return c.preset === 'individual'
    ? clean({ RQ_INN: c.inn, RQ_OGRNIP: c.rq_ogrnip, RQ_LAST_NAME: c.rq_last_name, RQ_FIRST_NAME: c.rq_first_name, RQ_SECOND_NAME: c.rq_second_name })
    : clean({ RQ_INN: c.inn, RQ_KPP: c.rq_kpp, RQ_OGRN: c.rq_ogrn, RQ_COMPANY_NAME: c.rq_company_name, RQ_COMPANY_FULL_NAME: c.rq_company_full_name });
}

/** crm.requisite.add fields; ENTITY_ID is the company (or a $result reference to it). */
export function requisiteAddFields(c: CompanyOut, presetId: number, companyRef: string | number): Record<string, unknown> {
  return {
    ENTITY_TYPE_ID: ENTITY_TYPE.company,
    ENTITY_ID: companyRef,
    PRESET_ID: presetId,
    NAME: c.title,
    XML_ID: `${ORIGINATOR}:${c.company_id}`,
    ORIGINATOR_ID: ORIGINATOR,
    ...requisiteValues(c),
  };
}

export function bankValues(c: CompanyOut): Fields | null {
  if (!c.bank_account && !c.bank_bik) return null;
  return clean({ RQ_BANK_NAME: c.bank_name, RQ_BIK: c.bank_bik, RQ_ACC_NUM: c.bank_account, RQ_COR_ACC_NUM: c.bank_corr_account });
}

export function bankAddFields(c: CompanyOut, requisiteRef: string | number): Record<string, unknown> {
  return { ENTITY_ID: requisiteRef, NAME: c.bank_name ?? 'Расчётный счёт', ORIGINATOR_ID: ORIGINATOR, ...bankValues(c) };
}

export function addressValues(c: CompanyOut): Fields | null {
  return c.legal_address ? { ADDRESS_1: c.legal_address } : null;
}

export function addressFields(c: CompanyOut, requisiteRef: string | number): Record<string, unknown> {
  return { TYPE_ID: LEGAL_ADDRESS, ENTITY_TYPE_ID: ENTITY_TYPE.requisite, ENTITY_ID: requisiteRef, ...addressValues(c) };
}

/** The fields a read of a requisite, bank detail or address selects: every one the push writes. */
export const REQUISITE_SELECT = ['ID', 'RQ_INN', 'RQ_KPP', 'RQ_OGRN', 'RQ_OGRNIP', 'RQ_COMPANY_NAME', 'RQ_COMPANY_FULL_NAME',
  'RQ_LAST_NAME', 'RQ_FIRST_NAME', 'RQ_SECOND_NAME'];
export const BANK_SELECT = ['ID', 'RQ_BANK_NAME', 'RQ_BIK', 'RQ_ACC_NUM', 'RQ_COR_ACC_NUM'];
export const ADDRESS_SELECT = ['TYPE_ID', 'ENTITY_ID', 'ADDRESS_1'];

/** What a company's push writes, to keep as pushed. */
export function pushedCompany(c: CompanyOut): PushedCompany {
  return { title: c.title, phones: c.phones, emails: c.emails, requisite: requisiteValues(c), bank: bankValues(c), address: addressValues(c) };
}

/** A contact's own fields (legacy names). */
export function contactValues(c: ContactOut): Fields {
  return clean({ NAME: c.first_name, LAST_NAME: c.last_name, SECOND_NAME: c.middle_name, POST: c.position });
}

/** crm.item fields of a contact for crm.item.batchImport (entityTypeId 3). */
export function contactImportItem(c: ContactOut, companyId: number): Record<string, unknown> {
  return {
    name: c.first_name ?? undefined,
    lastName: c.last_name ?? undefined,
    secondName: c.middle_name ?? undefined,
    post: c.position ?? undefined,
    fm: fm(c.phones, c.emails),
    companyId,
    companyIds: [companyId],
    originatorId: ORIGINATOR,
    originId: c.contact_id,
  };
}

/** crm.contact.add fields. */
export function contactAddFields(c: ContactOut, companyId: number): Record<string, unknown> {
  return { ...contactValues(c), PHONE: multifield(c.phones), EMAIL: multifield(c.emails), COMPANY_ID: companyId, ORIGINATOR_ID: ORIGINATOR, ORIGIN_ID: c.contact_id };
}

export function pushedContact(c: ContactOut, companyId: number): PushedContact {
  return { fields: contactValues(c), phones: c.phones, emails: c.emails, companyId };
}

/**
 * A phone or e-mail as the push compares it with what the CRM holds, which is how the portal's
 * duplicate search compares them: a phone as a number — parsed with Russia as the default
 * region, so `8 (901) 000-00-01`, `+7 901 000 00 01`, `79010000001` and `89010000001 доб. 12`
 * are one number, the extension left out — and one that does not parse as the portal reduces
 * it (digits only, a leading 8 of eleven digits read as 7, an international 00 or 011 prefix
 * and a leading 0 dropped); an e-mail without regard to case.
 */
export function sameValue(kind: 'PHONE' | 'EMAIL', value: string): string {
  if (kind === 'EMAIL') return value.trim().toLowerCase();
  const parsed = parsePhone(value, 'RU').e164;
  if (parsed) return parsed.slice(1);
  const digits = value.replace(/\s*(?:доб|ext|x|#)\.?\s*\d+\s*$/iu, '').replace(/\D/g, '');
  if (digits.length === 11 && digits.startsWith('8')) return `7${digits.slice(1)}`;
  return digits.replace(/^(?:00|011|0)/, '');
}
