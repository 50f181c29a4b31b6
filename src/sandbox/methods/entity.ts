import { crmError, errors, isoWithOffset, type MethodResult } from '../envelope.js';
import { applySelect, listRows, selectList, type ListSpec } from './list.js';
import { fieldsParam, idParam, isObject, knownFields, positiveInt, sanitizeHtml, type Handler, type MethodContext, type Params } from './method.js';
import { checkMultifields, multifieldFilter, MULTIFIELD_TYPES, readMultifields, writeMultifields, type Owner } from './multifield.js';

/** The system fields IMPORT=Y makes writable (crm-company-add.md). */
const IMPORT_WRITABLE = ['DATE_CREATE', 'DATE_MODIFY', 'CREATED_BY_ID', 'MODIFY_BY_ID'];
const SYSTEM_FIELDS = ['ID', ...IMPORT_WRITABLE];

export interface EntitySpec {
  owner: Owner | 'DEAL';
  table: 'company' | 'contact' | 'deal';
  /** Fields a client may write; anything else is silently ignored. */
  writable: ReadonlySet<string>;
  /** "Company is not found" and the like, for update and delete of a missing id. */
  notFound: string;
  /** Defaults on create, given the new id. */
  defaults(id: number, ctx: MethodContext, fields: Record<string, unknown>): Record<string, unknown>;
  /**
   * What the portal fills in or rewrites on create, after the defaults (bitrix24-api.md §7
   * "Legacy add"): a name for an unnamed entity, numbers read as PHP reads them. `api` says
   * whose naming: the legacy `*.add` or `crm.item.*` (object-fields.md "Обязательные поля").
   */
  completeOnAdd?(stored: Record<string, unknown>, id: number, api: EntityApi): void;
  /** Write-only fields and links (COMPANY_IDS, CONTACT_IDS) after the row is written. */
  afterWrite?(ctx: MethodContext, id: number, fields: Record<string, unknown>, created: boolean): Promise<void>;
  /** Fields read from elsewhere (a contact's primary company). */
  decorate?(ctx: MethodContext, rows: Map<number, Record<string, unknown>>): Promise<void>;
  /** Before a delete: what goes with the entity. */
  beforeDelete?(ctx: MethodContext, id: number): Promise<void>;
}

/** Which family of methods writes: legacy `crm.company.add` and the like, or `crm.item.*`. */
export type EntityApi = 'legacy' | 'item';

export interface CreateOptions {
  /** Recorded in `created_via`: an add method or import mode. */
  via?: 'add' | 'import';
  /** IMPORT=Y: the system dates and authors are writable. */
  importMode?: boolean;
  api?: EntityApi;
}

/** Blank as the portal's `trim($value) === ''` sees it; a missing field is blank too. */
export const isBlank = (value: unknown) => value === undefined || value === null || String(value).trim() === '';

const hasMultifields = (spec: EntitySpec): spec is EntitySpec & { owner: Owner } => spec.owner !== 'DEAL';

function prepare(spec: EntitySpec, fields: Record<string, unknown>, importMode: boolean): Record<string, unknown> {
  const writable = new Set([...spec.writable, ...(importMode ? IMPORT_WRITABLE : [])]);
  const kept = knownFields(fields, writable);
  for (const type of Object.keys(MULTIFIELD_TYPES)) delete kept[type];
  if (typeof kept.COMMENTS === 'string') kept.COMMENTS = sanitizeHtml(kept.COMMENTS);
  return kept;
}

function multifieldsOf(fields: Record<string, unknown>): Record<string, unknown> {
  const upper: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) if (name.toUpperCase() in MULTIFIELD_TYPES) upper[name.toUpperCase()] = value;
  return upper;
}

/** Creates an entity the way *.add does; crm.item.import calls it with `via: 'import'`. */
export async function createEntity(ctx: MethodContext, spec: EntitySpec, fields: Record<string, unknown>, options: CreateOptions = {}): Promise<number> {
  const { via = 'add', importMode = false, api = 'legacy' } = options;
  const multi = multifieldsOf(fields);
  if (hasMultifields(spec)) checkMultifields(multi);
  const { rows } = await ctx.db.query<{ id: string }>(`select nextval(pg_get_serial_sequence('${spec.table}', 'id')) as id`);
  const id = Number(rows[0]!.id);
  const now = isoWithOffset(ctx.now);
  const stored: Record<string, unknown> = {
    DATE_CREATE: now, DATE_MODIFY: now, CREATED_BY_ID: String(ctx.userId), MODIFY_BY_ID: String(ctx.userId),
    ...spec.defaults(id, ctx, prepare(spec, fields, importMode)),
    ...prepare(spec, fields, importMode),
  };
  // an ASSIGNED_BY_ID missing, zero, negative or not a number is the calling user (§7)
  stored.ASSIGNED_BY_ID = String(positiveInt(stored.ASSIGNED_BY_ID) ?? ctx.userId);
  spec.completeOnAdd?.(stored, id, api);
  await ctx.db.query(`insert into ${spec.table} (id, fields, created_via) values ($1, $2, $3)`, [id, stored, via]);
  if (hasMultifields(spec)) await writeMultifields(ctx.db, spec.owner, id, multi);
  await spec.afterWrite?.(ctx, id, fields, true);
  return id;
}

export async function exists(ctx: MethodContext, spec: EntitySpec, id: number): Promise<boolean> {
  const { rowCount } = await ctx.db.query(`select 1 from ${spec.table} where id = $1 for update`, [id]);
  return (rowCount ?? 0) > 0;
}

/** Every field of the entities, as legacy get/list return them: strings, system fields included. */
export async function readEntities(ctx: MethodContext, spec: EntitySpec, ids: number[], withMultifields: boolean): Promise<Map<number, Record<string, unknown>>> {
  const { rows } = await ctx.db.query<{ id: string; fields: Record<string, unknown> }>(
    `select id, fields from ${spec.table} where id = any($1::bigint[])`,
    [ids],
  );
  const byId = new Map<number, Record<string, unknown>>();
  const multi = hasMultifields(spec) ? await readMultifields(ctx.db, spec.owner, ids) : new Map();
  for (const row of rows) {
    const id = Number(row.id);
    const entity: Record<string, unknown> = { ID: row.id };
    for (const name of [...spec.writable, ...SYSTEM_FIELDS]) if (name !== 'ID') entity[name] = null;
    Object.assign(entity, row.fields);
    if (hasMultifields(spec)) {
      const types = multi.get(id) ?? {};
      entity.HAS_PHONE = types.PHONE ? 'Y' : 'N';
      entity.HAS_EMAIL = types.EMAIL ? 'Y' : 'N';
      if (withMultifields) Object.assign(entity, types);
    }
    byId.set(id, entity);
  }
  await spec.decorate?.(ctx, byId);
  for (const entity of byId.values()) for (const name of ['COMPANY_IDS', 'CONTACT_IDS']) delete entity[name];
  return byId;
}

/** Changes an entity the way *.update does: fields merged, multifields by their ID rules, links after. */
export async function updateEntity(ctx: MethodContext, spec: EntitySpec, id: number, fields: Record<string, unknown>): Promise<void> {
  const multi = multifieldsOf(fields);
  if (hasMultifields(spec)) checkMultifields(multi);
  const changes = { ...prepare(spec, fields, false), DATE_MODIFY: isoWithOffset(ctx.now), MODIFY_BY_ID: String(ctx.userId) };
  await ctx.db.query(`update ${spec.table} set fields = fields || $2 where id = $1`, [id, changes]);
  if (hasMultifields(spec)) await writeMultifields(ctx.db, spec.owner, id, multi);
  await spec.afterWrite?.(ctx, id, fields, false);
}

/** How an entity's list reads its table: its fields, PHONE/EMAIL filters, legacy paging. */
export function entityListSpec(spec: EntitySpec): ListSpec {
  return {
    table: spec.table,
    fields: new Set([...spec.writable, ...SYSTEM_FIELDS]),
    special: hasMultifields(spec) ? multifieldFilter(spec.owner, `${spec.table}.id`) : undefined,
    roundOffset: true,
    idColumn: 'id',
    toRow: () => ({}),
  };
}

export function entityMethods(prefix: string, spec: EntitySpec): Record<string, Handler> {
  const list = entityListSpec(spec);
  return {
    async [`${prefix}.add`](ctx, params): Promise<MethodResult> {
      const fields = fieldsParam(params);
      const options = isObject(params.params) ? params.params : {};
      return { result: await createEntity(ctx, spec, fields, { importMode: options.IMPORT === 'Y' }) };
    },
    async [`${prefix}.update`](ctx, params) {
      const id = idParam(params);
      const fields = fieldsParam(params);
      if (!(await exists(ctx, spec, id))) throw crmError(spec.notFound);
      await updateEntity(ctx, spec, id, fields);
      return { result: true };
    },
    async [`${prefix}.get`](ctx, params) {
      const id = idParam(params);
      const entity = (await readEntities(ctx, spec, [id], true)).get(id);
      if (!entity) throw errors.notFound();
      return { result: entity };
    },
    async [`${prefix}.list`](ctx, params: Params) {
      const ids: number[] = [];
      const page = await listRows(ctx.db, { ...list, toRow: (row) => (ids.push(Number(row.id)), {}) }, params);
      const select = selectList(params);
      const wantsMulti = select.some((name) => name in MULTIFIELD_TYPES);
      const entities = await readEntities(ctx, spec, ids, wantsMulti);
      const result = ids.map((id) => {
        const entity = entities.get(id)!;
        const picked = applySelect(entity, select);
        // `*` is every stored field and no multifield; a multifield comes only when named
        for (const type of Object.keys(MULTIFIELD_TYPES)) {
          if (select.includes(type)) picked[type] = entity[type] ?? [];
          else delete picked[type];
        }
        return picked;
      });
      return { ...page, result };
    },
    async [`${prefix}.delete`](ctx, params) {
      const id = idParam(params);
      if (!(await exists(ctx, spec, id))) throw crmError(spec.notFound);
      await spec.beforeDelete?.(ctx, id);
      if (hasMultifields(spec)) await ctx.db.query('delete from multifield where entity_id = $1 and element_id = $2', [spec.owner, id]);
      await ctx.db.query(`delete from ${spec.table} where id = $1`, [id]);
      return { result: true };
    },
  };
}
