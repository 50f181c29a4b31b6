-- The portal's directories as crm.status.list gives them: one row per entry of a directory
-- (ENTITY_ID): company and contact types, sources, industries, head counts, deal types,
-- salutations and the stages of the default deal pipeline. The stages are the docs' example
-- (crm-status-list.md, with its colours and semantics); the rest are the stock entries of a
-- new Russian portal, whose first company type, CUSTOMER, is the default (bitrix24-api.md §3).
create table crm_status (
  id bigserial primary key,
  fields jsonb not null
);

with entry (entity_id, status_id, name, sort, is_system, color, semantics, extra_semantics) as (
  values
    ('COMPANY_TYPE', 'CUSTOMER', 'Клиент', 10, 'Y', null, null, null),
    ('COMPANY_TYPE', 'SUPPLIER', 'Поставщик', 20, 'N', null, null, null),
    ('COMPANY_TYPE', 'COMPETITOR', 'Конкурент', 30, 'N', null, null, null),
    ('COMPANY_TYPE', 'PARTNER', 'Партнер', 40, 'N', null, null, null),
    ('COMPANY_TYPE', 'OTHER', 'Другое', 50, 'N', null, null, null),
    ('CONTACT_TYPE', 'CLIENT', 'Клиенты', 10, 'Y', null, null, null),
    ('CONTACT_TYPE', 'SUPPLIER', 'Поставщики', 20, 'N', null, null, null),
    ('CONTACT_TYPE', 'PARTNER', 'Партнеры', 30, 'N', null, null, null),
    ('CONTACT_TYPE', 'OTHER', 'Другое', 40, 'N', null, null, null),
    ('SOURCE', 'CALL', 'Звонок', 10, 'N', null, null, null),
    ('SOURCE', 'EMAIL', 'Электронная почта', 20, 'N', null, null, null),
    ('SOURCE', 'WEB', 'Веб-сайт', 30, 'N', null, null, null),
    ('SOURCE', 'ADVERTISING', 'Реклама', 40, 'N', null, null, null),
    ('SOURCE', 'PARTNER', 'Существующий клиент', 50, 'N', null, null, null),
    ('SOURCE', 'RECOMMENDATION', 'По рекомендации', 60, 'N', null, null, null),
    ('SOURCE', 'TRADE_SHOW', 'Выставка', 70, 'N', null, null, null),
    ('SOURCE', 'WEBFORM', 'CRM-форма', 80, 'N', null, null, null),
    ('SOURCE', 'CALLBACK', 'Обратный звонок', 90, 'N', null, null, null),
    ('SOURCE', 'STORE', 'Интернет-магазин', 100, 'N', null, null, null),
    ('SOURCE', 'SELF', 'Свой контакт', 110, 'N', null, null, null),
    ('SOURCE', 'OTHER', 'Другое', 120, 'N', null, null, null),
    ('INDUSTRY', 'IT', 'Информационные технологии', 10, 'N', null, null, null),
    ('INDUSTRY', 'TELECOM', 'Телекоммуникации и связь', 20, 'N', null, null, null),
    ('INDUSTRY', 'MANUFACTURING', 'Производство', 30, 'N', null, null, null),
    ('INDUSTRY', 'BANKING', 'Банковские услуги', 40, 'N', null, null, null),
    ('INDUSTRY', 'CONSULTING', 'Консалтинг', 50, 'N', null, null, null),
    ('INDUSTRY', 'FINANCE', 'Финансы', 60, 'N', null, null, null),
    ('INDUSTRY', 'GOVERNMENT', 'Правительство', 70, 'N', null, null, null),
    ('INDUSTRY', 'DELIVERY', 'Доставка', 80, 'N', null, null, null),
    ('INDUSTRY', 'ENTERTAINMENT', 'Развлечения', 90, 'N', null, null, null),
    ('INDUSTRY', 'NOTPROFIT', 'Не для получения прибыли', 100, 'N', null, null, null),
    ('INDUSTRY', 'OTHER', 'Другое', 110, 'N', null, null, null),
    ('EMPLOYEES', 'EMPLOYEES_1', 'менее 50', 10, 'N', null, null, null),
    ('EMPLOYEES', 'EMPLOYEES_2', '50-250', 20, 'N', null, null, null),
    ('EMPLOYEES', 'EMPLOYEES_3', '250-500', 30, 'N', null, null, null),
    ('EMPLOYEES', 'EMPLOYEES_4', 'более 500', 40, 'N', null, null, null),
    ('DEAL_TYPE', 'SALE', 'Продажа', 10, 'Y', null, null, null),
    ('DEAL_TYPE', 'COMPLEX', 'Комплексная продажа', 20, 'N', null, null, null),
    ('DEAL_TYPE', 'GOODS', 'Продажа товара', 30, 'N', null, null, null),
    ('DEAL_TYPE', 'SERVICES', 'Продажа услуги', 40, 'N', null, null, null),
    ('DEAL_TYPE', 'SERVICE', 'Сервисное обслуживание', 50, 'N', null, null, null),
    ('HONORIFIC', 'HNR_RU_1', 'г-н', 10, 'N', null, null, null),
    ('HONORIFIC', 'HNR_RU_2', 'г-жа', 20, 'N', null, null, null),
    ('DEAL_STAGE', 'NEW', 'Новая', 10, 'Y', '#39A8EF', null, 'process'),
    ('DEAL_STAGE', 'PREPARATION', 'Подготовка документов', 20, 'N', '#2FC6F6', null, 'process'),
    ('DEAL_STAGE', 'PREPAYMENT_INVOICE', 'Cчет на предоплату', 30, 'N', '#55D0E0', null, 'process'),
    ('DEAL_STAGE', 'EXECUTING', 'В работе', 40, 'N', '#47E4C2', null, 'process'),
    ('DEAL_STAGE', 'FINAL_INVOICE', 'Финальный счет', 50, 'N', '#FFA900', null, 'process'),
    ('DEAL_STAGE', 'WON', 'Сделка успешна', 60, 'Y', '#7BD500', 'S', 'success'),
    ('DEAL_STAGE', 'LOSE', 'Сделка провалена', 70, 'Y', '#FF5752', 'F', 'failure'),
    ('DEAL_STAGE', 'APOLOGY', 'Анализ причины провала', 80, 'N', '#FF5752', 'F', 'apology')
),

final as (
  select
    jsonb_build_object(
      'ENTITY_ID', entity_id, 'STATUS_ID', status_id, 'NAME', name,
      -- a system entry keeps its initial name; an added one has none
      'NAME_INIT', case when is_system = 'Y' then name else '' end,
      'SORT', sort::text, 'SYSTEM', is_system, 'CATEGORY_ID', null, 'COLOR', color, 'SEMANTICS', semantics
    ) || case when extra_semantics is null then '{}'::jsonb
              else jsonb_build_object('EXTRA', jsonb_build_object('SEMANTICS', extra_semantics, 'COLOR', color)) end as fields
  from entry
)

insert into crm_status (fields)
select fields from final;
