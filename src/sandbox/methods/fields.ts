import type { Handler } from './method.js';
import { REQUISITE_FIELDS } from './requisite.js';

/**
 * crm.company.fields, crm.contact.fields and crm.requisite.fields: each field described as
 * the docs' examples show (crm-company-fields.md, crm-contact-fields.md,
 * crm-requisite-fields.md), for the fields the sandbox keeps. Types and titles are the
 * portal's; a portal adds its own UF_* fields, which the sandbox has none of.
 */

interface Described {
  type: string;
  title: string;
  isRequired?: boolean;
  isReadOnly?: boolean;
  isImmutable?: boolean;
  isMultiple?: boolean;
  isDeprecated?: boolean;
  statusType?: string | string[];
}

function describe(fields: Record<string, Described>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([name, { type, title, statusType, isDeprecated, ...flags }]) => [name, {
    type,
    isRequired: flags.isRequired ?? false,
    isReadOnly: flags.isReadOnly ?? false,
    isImmutable: flags.isImmutable ?? false,
    isMultiple: flags.isMultiple ?? false,
    isDynamic: false,
    ...(statusType !== undefined ? { statusType } : {}),
    ...(isDeprecated ? { isDeprecated } : {}),
    title,
  }]));
}

const text = (title: string, more: Partial<Described> = {}): Described => ({ type: 'string', title, ...more });
const readOnly = (type: string, title: string): Described => ({ type, title, isReadOnly: true });
const directory = (statusType: string, title: string): Described => ({ type: 'crm_status', title, statusType });
const multifield = (title: string): Described => ({ type: 'crm_multifield', title, isMultiple: true });

const SYSTEM = (created: string, modified: string): Record<string, Described> => ({
  ASSIGNED_BY_ID: { type: 'user', title: 'Ответственный' },
  CREATED_BY_ID: readOnly('user', created),
  MODIFY_BY_ID: readOnly('user', modified),
  DATE_CREATE: readOnly('datetime', 'Дата создания'),
  DATE_MODIFY: readOnly('datetime', 'Дата изменения'),
});

const ORIGIN: Record<string, Described> = {
  ORIGINATOR_ID: text('Внешний источник'),
  ORIGIN_ID: text('Идентификатор элемента во внешнем источнике'),
  ORIGIN_VERSION: text('Версия оригинала'),
  UTM_SOURCE: text('Рекламная система'),
  UTM_MEDIUM: text('Тип трафика'),
  UTM_CAMPAIGN: text('Обозначение рекламной кампании'),
  UTM_CONTENT: text('Содержание кампании'),
  UTM_TERM: text('Условие поиска кампании'),
};

const HAS: Record<string, Described> = {
  HAS_PHONE: readOnly('char', 'Задан телефон'),
  HAS_EMAIL: readOnly('char', 'Задан e-mail'),
};

const MULTIFIELDS: Record<string, Described> = {
  PHONE: multifield('Телефон'), EMAIL: multifield('E-mail'), WEB: multifield('Сайт'), IM: multifield('Мессенджер'), LINK: multifield('LINK'),
};

const ADDRESS_PARTS: Array<[string, string, string]> = [
  ['ADDRESS', 'Фактический адрес', 'Юридический адрес'], ['ADDRESS_2', 'Адрес (стр. 2)', 'Юридический адрес (стр. 2)'],
  ['ADDRESS_CITY', 'Город', 'Юридический адрес город'], ['ADDRESS_POSTAL_CODE', 'Почтовый индекс', 'Юридический адрес почтовый индекс '],
  ['ADDRESS_REGION', 'Район', 'Юридический адрес район'], ['ADDRESS_PROVINCE', 'Область', 'Юридический адрес область'],
  ['ADDRESS_COUNTRY', 'Страна', 'Юридический адрес страна'],
];

const COMPANY: Record<string, Described> = {
  ID: readOnly('integer', 'ID'),
  TITLE: text('Название компании', { isRequired: true }),
  COMPANY_TYPE: directory('COMPANY_TYPE', 'Тип компании'),
  ...Object.fromEntries(ADDRESS_PARTS.map(([name, title]) => [name, text(title)])),
  ...Object.fromEntries(ADDRESS_PARTS.map(([name, , title]) => [`REG_${name}`, text(title)])),
  BANKING_DETAILS: text('Банковские реквизиты'),
  INDUSTRY: directory('INDUSTRY', 'Сфера деятельности'),
  EMPLOYEES: directory('EMPLOYEES', 'Кол-во сотрудников'),
  CURRENCY_ID: { type: 'crm_currency', title: 'Валюта' },
  REVENUE: { type: 'double', title: 'Годовой оборот' },
  OPENED: { type: 'char', title: 'Доступна для всех' },
  COMMENTS: text('Комментарий'),
  ...HAS,
  IS_MY_COMPANY: { type: 'char', title: 'Моя компания' },
  ...SYSTEM('Кем создана', 'Кем изменена'),
  ...ORIGIN,
  ...MULTIFIELDS,
};

const CONTACT: Record<string, Described> = {
  ID: readOnly('integer', 'ID'),
  HONORIFIC: directory('HONORIFIC', 'Обращение'),
  // the docs mark all three required; the portal is content with one of them (bitrix24-api.md §4)
  NAME: text('Имя', { isRequired: true }),
  SECOND_NAME: text('Отчество', { isRequired: true }),
  LAST_NAME: text('Фамилия', { isRequired: true }),
  PHOTO: { type: 'file', title: 'Фотография' },
  BIRTHDATE: { type: 'date', title: 'Дата рождения' },
  TYPE_ID: directory('CONTACT_TYPE', 'Тип контакта'),
  SOURCE_ID: directory('SOURCE', 'Источник'),
  SOURCE_DESCRIPTION: text('Дополнительно об источнике'),
  POST: text('Должность'),
  COMMENTS: text('Комментарий'),
  OPENED: { type: 'char', title: 'Доступен для всех' },
  EXPORT: { type: 'char', title: 'Участвует в экспорте контактов' },
  ...HAS,
  ...SYSTEM('Кем создан', 'Кем изменен'),
  COMPANY_ID: { type: 'crm_company', title: 'Компания', isDeprecated: true },
  COMPANY_IDS: { type: 'crm_company', title: 'COMPANY_IDS', isMultiple: true },
  ...ORIGIN,
  ...MULTIFIELDS,
};

/** Requisite fields whose type or title is not a string titled by its own name (crm-requisite-fields.md). */
const REQUISITE_NAMED: Record<string, Described> = {
  ID: readOnly('integer', 'ID'),
  ENTITY_TYPE_ID: { type: 'integer', title: 'ID типа сущности', isRequired: true, isImmutable: true },
  ENTITY_ID: { type: 'integer', title: 'ID сущности', isRequired: true, isImmutable: true },
  PRESET_ID: { type: 'integer', title: 'ID пресета', isRequired: true, isImmutable: true },
  DATE_CREATE: readOnly('datetime', 'Дата создания'),
  DATE_MODIFY: readOnly('datetime', 'Дата изменения'),
  CREATED_BY_ID: readOnly('user', 'Создал'),
  MODIFY_BY_ID: readOnly('user', 'Изменил'),
  NAME: text('Название'), CODE: text('Код'), XML_ID: text('Внешний код'),
  ACTIVE: { type: 'char', title: 'Активен' }, ADDRESS_ONLY: { type: 'char', title: 'ADDRESS_ONLY' },
  SORT: { type: 'integer', title: 'Сортировка' },
  RQ_NAME: text('Ф.И.О.'), RQ_FIRST_NAME: text('Имя'), RQ_LAST_NAME: text('Фамилия'), RQ_SECOND_NAME: text('Отчество'),
  RQ_COMPANY_NAME: text('Сокращенное наименование организации'), RQ_COMPANY_FULL_NAME: text('Полное наименование организации'),
  RQ_COMPANY_REG_DATE: text('Дата государственной регистрации'), RQ_DIRECTOR: text('Ген. директор'), RQ_ACCOUNTANT: text('Гл. бухгалтер'),
  RQ_CONTACT: text('Контактное лицо'), RQ_EMAIL: text('E-Mail'), RQ_PHONE: text('Телефон'), RQ_FAX: text('Факс'),
  RQ_IDENT_TYPE: { type: 'crm_status', title: 'RQ_IDENT_TYPE', statusType: ['RQ_IDENT_TYPE_CO'] },
  RQ_IDENT_DOC: text('Вид документа'), RQ_IDENT_DOC_SER: text('серия'), RQ_IDENT_DOC_NUM: text('номер'),
  RQ_IDENT_DOC_DATE: text('дата выдачи'), RQ_IDENT_DOC_ISSUED_BY: text('кем выдан'), RQ_IDENT_DOC_DEP_CODE: text('код подразделения'),
  RQ_INN: text('ИНН'), RQ_KPP: text('КПП'), RQ_IFNS: text('ИФНС'), RQ_OGRN: text('ОГРН'), RQ_OGRNIP: text('ОГРНИП'),
  RQ_OKPO: text('ОКПО'), RQ_OKTMO: text('ОКТМО'), RQ_OKVED: text('ОКВЭД'),
};

const REQUISITE = Object.fromEntries(REQUISITE_FIELDS.map((name) => [name, REQUISITE_NAMED[name] ?? text(name)]));

export const fieldsMethods: Record<string, Handler> = {
  async 'crm.company.fields'() {
    return { result: describe(COMPANY) };
  },
  async 'crm.contact.fields'() {
    return { result: describe(CONTACT) };
  },
  async 'crm.requisite.fields'() {
    return { result: describe(REQUISITE) };
  },
};
