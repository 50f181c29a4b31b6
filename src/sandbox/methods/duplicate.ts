import { RestError, crmError } from '../envelope.js';
import { isObject, type Handler, type MethodContext } from './method.js';

/** Only the first 20 distinct non-empty values are searched, the rest silently ignored (restservice.php). */
export const FIND_BY_COMM_VALUES = 20;
/** Each value finds at most 20 entities. */
const HITS_PER_VALUE = 20;
const ENTITY_TYPES = ['LEAD', 'CONTACT', 'COMPANY'] as const;

/**
 * Docs and code disagree on the error shape: the docs put the message in `error`
 * (`{"error":"Communication type is not defined","error_description":"Parameter 'type' is required."}`),
 * the older code throws an empty code. Default: the docs, the newer of the two.
 */
function commError(ctx: MethodContext, docsCode: string, docsDescription: string): RestError {
  return ctx.settings.findByCommErrors === 'docs' ? new RestError(400, docsCode, docsDescription) : crmError(`${docsCode}.`);
}

export const duplicateMethods: Record<string, Handler> = {
  async 'crm.duplicate.findbycomm'(ctx, params) {
    const type = String(params.type ?? params.TYPE ?? '').toUpperCase();
    if (type === '') throw commError(ctx, 'Communication type is not defined', "Parameter 'type' is required.");
    if (type !== 'PHONE' && type !== 'EMAIL') throw commError(ctx, `Communication type '${type}' is not supported in current context`, "Parameter 'type' must be EMAIL or PHONE.");
    const raw = params.values ?? params.VALUES;
    if (!Array.isArray(raw) && !isObject(raw)) throw commError(ctx, 'Communication values is not defined', "Parameter 'values' must be array.");
    const entityType = String(params.entity_type ?? params.ENTITY_TYPE ?? '').toUpperCase();
    if (entityType === 'DEAL') throw crmError('Deal is not supported in current context.');
    if (entityType !== '' && !ENTITY_TYPES.includes(entityType as never)) throw crmError(`Entity type '${entityType}' is not supported in current context.`);
    const values = [...new Set((Array.isArray(raw) ? raw : Object.values(raw)).map((v) => String(v ?? '').trim()).filter(Boolean))].slice(0, FIND_BY_COMM_VALUES);
    const types = entityType ? [entityType] : ENTITY_TYPES;
    const hits: Record<string, number[]> = {};
    for (const owner of types) {
      if (owner === 'LEAD') continue; // the sandbox holds no leads
      const { rows } = await ctx.db.query<{ element_id: string }>(
        // each value's key looked up through the index on it: a join that hashes the whole
        // table computes every stored value's key (two regular expressions) at every call
        `select distinct f.element_id
         from (select distinct communication_key($2, v) as key from unnest($3::text[]) as v) as k
         -- both sides as the portal normalises them (schema/004_communication_key.sql)
         cross join lateral (
           select m.element_id from multifield m
           where m.type_id = $2 and communication_key(m.type_id, m.value) = k.key and m.entity_id = $1
           order by m.element_id limit ${HITS_PER_VALUE}
         ) as f
         where k.key <> ''
         order by f.element_id`,
        [owner, type, values],
      );
      if (rows.length) hits[owner] = rows.map((r) => Number(r.element_id));
      // docs: once one type has 20 or more duplicates the other types are not returned
      if (rows.length >= HITS_PER_VALUE) break;
    }
    // PHP's empty array() encodes as `[]`
    return { result: Object.keys(hits).length ? hits : [] };
  },
};
