import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../src/sandbox/request.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startPortal, type Portal } from './helpers.js';

let db: TestDatabase;
let p: Portal;
beforeAll(async () => {
  db = await createTestDatabase();
  p = await startPortal(db.url, { schema: 'hostile', bucket: { size: 1000, drainPerSecond: 100 } });
  await p.rest('crm.company.add', { fields: { TITLE: 'Only' } });
});
afterAll(async () => {
  await p?.stop();
  await db?.drop();
});

describe('what a careless or hostile client sends', () => {
  it('refuses a body past the size limit like a gateway, and keeps serving', async () => {
    const big = await p.call('crm.company.add', { contentType: 'application/json', body: `{"fields":{"TITLE":"${'x'.repeat(MAX_BODY_BYTES)}"}}` });
    expect(big.status).toBe(413);
    expect(big.text).toContain('413 Request Entity Too Large');
    expect((await p.rest('crm.company.list')).json.total).toBe(1);
  });

  it('keeps filter values and names out of the SQL', async () => {
    const byValue = await p.rest('crm.company.list', { filter: { TITLE: "x' or '1'='1" } });
    expect(byValue.json).toMatchObject({ result: [], total: 0 });
    const byName = await p.rest('crm.company.list', { filter: { "TITLE') or true --": 'x', '>=ID); drop table company; --': 1 }, order: { 'ID; drop table company': 'DESC' } });
    expect(byName.status).toBe(200);
    expect(await db.value('select count(*)::int from hostile.company')).toBe(1);
  });

  it('answers nonsense ids, offsets and nesting with the portal\'s own errors, not a crash', async () => {
    expect((await p.rest('crm.company.get', { id: '9223372036854775808' })).json).toEqual({ error: '', error_description: 'ID is not defined or invalid.' });
    expect((await p.rest('crm.company.get', { id: -3 })).json.error_description).toBe('ID is not defined or invalid.');
    expect((await p.rest('crm.company.list', { start: '99999999999999999999' })).json).toMatchObject({ result: [], total: 1 });
    const deep = await p.call('crm.company.add', { contentType: 'application/x-www-form-urlencoded', body: `fields${'[a]'.repeat(100)}=1` });
    expect(deep.json).toEqual({ error: '', error_description: "Parameter 'fields' must be array." });
    expect((await p.rest('crm.requisite.add', { fields: { ENTITY_TYPE_ID: 4, ENTITY_ID: 1, PRESET_ID: '5; drop', NAME: 'x' } })).json.error_description)
      .toBe('PRESET_ID is not defined or invalid.');
  });

  it('answers a NUL byte in the method name as an unknown method, and logs the call', async () => {
    const answer = await p.call('crm.company.add%00.json', { contentType: 'application/json', body: '{"fields":{"TITLE":"x"}}' });
    expect(answer).toMatchObject({ status: 404, json: { error: 'ERROR_METHOD_NOT_FOUND' } });
    expect((await p.sandbox.calls()).at(-1)).toMatchObject({ method: 'crm.company.add\uFFFD', status: 404 });
  });

  it('fails a batch command that is not a `method?query` string by itself', async () => {
    const answer = await p.rest('batch', { cmd: { obj: { method: 'crm.company.list' }, ok: 'crm.company.list?select[]=ID' } });
    expect(answer.status).toBe(200);
    expect(answer.json.result.result_error).toEqual({ obj: { error: 'ERROR_METHOD_NOT_FOUND', error_description: 'Method not found!' } });
    expect(answer.json.result.result.ok).toEqual([{ ID: '1' }]);
  });
});
