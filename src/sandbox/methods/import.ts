import { RestError } from '../envelope.js';
import { companySpec } from './company.js';
import { createEntity, type EntitySpec } from './entity.js';
import { itemTypeOf, toLegacy, type ItemType } from './item-fields.js';
import { isObject, type Handler, type MethodContext, type Params } from './method.js';

/** crm.item.batchImport takes at most 20 items (crm-item-batch-import.md). */
export const MAX_IMPORT_BATCH = 20;

const invalid = (description: string) => new RestError(400, 'CRM_FIELD_ERROR_VALUE_NOT_VALID', description);

function timeOf(value: unknown, name: string): number | null {
  if (value === undefined || value === null || value === '') return null;
  const ms = Date.parse(String(value));
  if (!Number.isFinite(ms)) throw invalid(`Значение поля "${name}" некорректно`);
  return ms;
}

/**
 * The rules of import mode (import/index.md): creation times ascending and never before an
 * element already created, none in the future, updatedTime not before createdTime; a
 * company needs its title.
 */
async function checkItem(ctx: MethodContext, spec: EntitySpec, item: Record<string, unknown>): Promise<void> {
  if (spec === companySpec && (typeof item.title !== 'string' || item.title.trim() === '')) {
    throw new RestError(400, 'CRM_FIELD_ERROR_REQUIRED', 'Поле "Название" обязательно для заполнения');
  }
  const created = timeOf(item.createdTime, 'createdTime');
  const updated = timeOf(item.updatedTime, 'updatedTime');
  const now = ctx.now.getTime();
  if ((created ?? 0) > now || (updated ?? 0) > now) throw invalid('Дата не может быть в будущем');
  if (created !== null && updated !== null && updated < created) throw invalid('Дата изменения не может быть раньше даты создания');
  if (created !== null) {
    const { rows } = await ctx.db.query<{ latest: Date | null }>(`select max(created_at) as latest from ${spec.table}`);
    const latest = rows[0]?.latest?.getTime() ?? null;
    if (latest !== null && created < latest) throw invalid('Элемент нельзя импортировать с датой создания раньше уже созданных элементов');
  }
}

function importTypeOf(ctx: MethodContext, params: Params): ItemType {
  const type = itemTypeOf(params);
  // the webhook's user needs the import right for the entity type, not the add right
  if (!ctx.settings.importRight) throw new RestError(400, 'ACCESS_DENIED', 'Access denied.');
  return type;
}

async function importOne(ctx: MethodContext, type: ItemType, item: unknown): Promise<{ item: { id: number } } | Record<string, unknown>> {
  const { spec } = type;
  ctx.charge(ctx.settings.importItemSeconds);
  await ctx.db.query('savepoint import_item');
  try {
    if (!isObject(item)) throw new RestError(400, '100', 'Expected iterable value for fields');
    await checkItem(ctx, spec, item);
    const id = await createEntity(ctx, spec, toLegacy(type, item, true), { via: 'import', importMode: true, api: 'item' });
    const created = timeOf(item.createdTime, 'createdTime');
    if (created !== null) await ctx.db.query(`update ${spec.table} set created_at = $2 where id = $1`, [id, new Date(created)]);
    await ctx.db.query('release savepoint import_item');
    return { item: { id } };
  } catch (e) {
    await ctx.db.query('rollback to savepoint import_item');
    if (e instanceof RestError) return { error: e.code, error_description: e.description };
    throw e;
  }
}

export const importMethods: Record<string, Handler> = {
  async 'crm.item.import'(ctx, params) {
    const type = importTypeOf(ctx, params);
    const answer = await importOne(ctx, type, params.fields);
    if ('error' in answer) throw new RestError(400, String(answer.error), String(answer.error_description));
    return { result: answer };
  },
  /** One entry per item, in order, `item` or `error`; HTTP 200 even when some fail. */
  async 'crm.item.batchImport'(ctx, params) {
    const type = importTypeOf(ctx, params);
    const data = params.data;
    if (!Array.isArray(data) && !isObject(data)) throw new RestError(400, '100', 'Expected iterable value for data');
    const items = Array.isArray(data) ? data : Object.values(data);
    if (items.length > MAX_IMPORT_BATCH) {
      throw new RestError(400, 'MAX_IMPORT_BATCH_SIZE_EXCEEDED', `Maximum import batch size is ${MAX_IMPORT_BATCH}`);
    }
    const result = [];
    for (const item of items) result.push(await importOne(ctx, type, item));
    return { result: { items: result } };
  },
};
