-- The fixed requisite presets (CORE-CRM lib/entityrequisite.php getFixedPresetList), one row per
-- preset. The ids deliberately differ from the docs' example (1 Организация, 2 ИП): a real
-- portal's ids vary, so a client must find a preset by its XML_ID, and one that hard-codes
-- 1 or 2 gets "PRESET_ID is not defined or invalid." here.
insert into requisite_preset (id, fields)
select id, jsonb_build_object(
  'ID', id::text, 'ENTITY_TYPE_ID', '8', 'COUNTRY_ID', country_id::text, 'NAME', name, 'XML_ID', xml_id,
  'ACTIVE', 'Y', 'SORT', (id * 10)::text, 'DATE_CREATE', '2024-01-01T00:00:00+03:00', 'DATE_MODIFY', null,
  'CREATED_BY_ID', '1', 'MODIFY_BY_ID', null)
from (values
  (5, 1, 'Организация', '#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#'),
  (6, 1, 'ИП', '#CRM_REQUISITE_PRESET_DEF_RU_INDIVIDUAL#'),
  (7, 1, 'Физ. лицо', '#CRM_REQUISITE_PRESET_DEF_RU_PERSON#'),
  (8, 6, 'ТОО', '#CRM_REQUISITE_PRESET_DEF_KZ_COMPANY#'),
  (9, 6, 'ИП', '#CRM_REQUISITE_PRESET_DEF_KZ_INDIVIDUAL#'),
  (10, 6, 'Физ. лицо', '#CRM_REQUISITE_PRESET_DEF_KZ_PERSON#'),
  (11, 14, 'Організація', '#CRM_REQUISITE_PRESET_DEF_UA_COMPANY#'),
  (12, 14, 'ФОП', '#CRM_REQUISITE_PRESET_DEF_UA_INDIVIDUAL#'),
  (13, 46, 'Unternehmen', '#CRM_REQUISITE_PRESET_DEF_DE_COMPANY#')
) as preset (id, country_id, name, xml_id);
