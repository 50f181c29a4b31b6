// The official Bitrix24 JS SDK against the sandbox, in a process of its own: it trusts the
// sandbox's certificate through NODE_EXTRA_CA_CERTS as any Node client would, and prints
// what it got as one JSON line.
import { AjaxError, B24Hook } from '@bitrix24/b24jssdk';

const b24 = B24Hook.fromWebhookUrl(process.env.SANDBOX_WEBHOOK_URL);
b24.offClientSideWarning();
const call = async (method, params) => (await b24.actions.v2.call.make({ method, params })).getData().result;
const out = {};

out.added = await call('crm.company.add', { fields: { TITLE: 'SDK & Co', PHONE: [{ VALUE: '+79990000000', VALUE_TYPE: 'WORK' }] } });
out.got = await call('crm.company.get', { id: out.added });
// what monitoring runs: both call server.time; healthCheck is true on success, ping the milliseconds (-1 on failure).
// After the first call, so a client that cannot reach the sandbox stops there with the reason
out.health = await b24.tools.healthCheck.make();
out.ping = await b24.tools.ping.make();
const presets = await call('crm.requisite.preset.list', { select: ['ID', 'XML_ID', 'COUNTRY_ID'] });
const company = presets.find((p) => p.XML_ID === '#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#');
out.presetId = company.ID;

const batch = await b24.actions.v2.batch.make({
  calls: {
    co: { method: 'crm.company.add', params: { fields: { TITLE: 'Chain & Sons', ORIGIN_ID: 'sdk-1' } } },
    rq: { method: 'crm.requisite.add', params: { fields: { ENTITY_TYPE_ID: 4, ENTITY_ID: '$result[co]', PRESET_ID: company.ID, NAME: 'Org', RQ_INN: '7707083893' } } },
    find: { method: 'crm.requisite.list', params: { filter: { RQ_INN: '7707083893', ENTITY_TYPE_ID: 4 }, select: ['ID', 'ENTITY_ID'] } },
  },
  options: { isHaltOnError: true },
});
out.batch = { isSuccess: batch.isSuccess, data: batch.getData() };
out.items = (await call('crm.item.list', { entityTypeId: 4, filter: { '>id': 120 }, select: ['id', 'title'] })).items;

try {
  await b24.actions.v2.call.make({ method: 'crm.company.get', params: { id: 999999 } });
  out.missing = 'no error';
} catch (e) {
  out.missing = e instanceof AjaxError ? { status: e.status, code: e.code, message: e.message } : String(e);
}

const listed = [];
for await (const chunk of b24.actions.v2.fetchList.make({ method: 'crm.company.list', params: { select: ['ID', 'TITLE'] }, idKey: 'ID' })) {
  listed.push(...chunk);
}
out.listed = listed.map((row) => Number(row.ID));
process.stdout.write(`${JSON.stringify(out)}\n`);
