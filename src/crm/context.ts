import type pg from 'pg';
import { formatCount } from '../land/progress.js';
import type { BatchSender } from './batches.js';
import type { CrmEntity, LinkStore } from './links.js';
import type { PortalClient } from './portal-client.js';

export type PushMode = 'import' | 'add';

export interface EntityStats {
  created: number;
  adopted: number;
  updated: number;
  unchanged: number;
  failed: number;
  /** Found deleted in the CRM by a manager this run: kept out of it (b2b-etl crm restore brings one back). */
  deleted: number;
}

export interface PushStats {
  company: EntityStats;
  contact: EntityStats;
  deal: EntityStats;
  /** Deals older than one already in the portal, imported at the oldest creation time import allowed: their own date is in BEGINDATE. */
  dealsDatedLater: number;
  /** Creates the portal refused before running them (its limits): left for the next push. */
  refused: number;
  /** Entities found twice in the CRM by our ORIGIN_ID (should stay 0). */
  duplicatesFound: number;
  /** Entities whose write got no answer: looked up, then linked or sent again. */
  unknownOutcomes: number;
  /** Entities looked up after a lost answer, not found, and sent again in the same run. */
  sentAgain: number;
  /** Writes still without an answer when the run ended (a stop came first): the next push looks them up. */
  unconfirmed: number;
  /**
   * Entities not in the CRM after every write of theirs got no answer and a lookup found
   * nothing, as often as a run sends one again: the next push sends them again.
   */
  leftOut: number;
}

export const emptyStats = (): PushStats => {
  const entity = (): EntityStats => ({ created: 0, adopted: 0, updated: 0, unchanged: 0, failed: 0, deleted: 0 });
  return { company: entity(), contact: entity(), deal: entity(), dealsDatedLater: 0, refused: 0, duplicatesFound: 0, unknownOutcomes: 0, sentAgain: 0, unconfirmed: 0, leftOut: 0 };
};

/** Per entity kind, a set of canonical ids. */
export type ByEntity = Record<CrmEntity, Set<string>>;
export const byEntity = (): ByEntity => ({ company: new Set(), contact: new Set(), deal: new Set() });

/** What the steps of one push share. */
export interface PushContext {
  pool: pg.Pool;
  client: PortalClient;
  links: LinkStore;
  mode: PushMode;
  /** Requisite preset ids on this portal, found by XML_ID. */
  presets: { company: number; individual: number };
  /** Sends every batch of the push, a bounded number in flight. */
  sender: BatchSender;
  stats: PushStats;
  runId: number;
  log: (line: string) => void;
  /** After each settled batch: progress. */
  progress: () => void;
  /** How long after a write got no answer its entities are looked up: the portal may still be running it. */
  settleMs: number;
  /** Companies this run created: their contacts cannot be in the CRM yet, so nobody looks for them there. */
  createdCompanies: Set<string>;
  /** Entities this run already counted (`entity:id`): created after their lost add was found in the CRM, or adopted; completing them later counts nothing more. */
  countedOnce: Set<string>;
  /** Ends every wait at once (a stop). */
  signal?: AbortSignal;
  /** Entities to send again in this run: their write got no answer and a lookup resolved it. */
  again: ByEntity;
  /** Of those, the ones the lookup did not find in the CRM (the others were found: their write was done). */
  notFound: ByEntity;
  /** Entities (`entity:id`) an update of this run went out for without an answer: found done later, they count as updated. */
  lostUpdates: Set<string>;
  /** Waits for this portal's deal import turn (one push imports at a time); resolves to what gives it back. */
  importTurn: () => Promise<() => Promise<void>>;
}

/**
 * Counts an entity the run brought up to date, once: one already counted created (its lost
 * add found in the CRM) or adopted is not counted again when the next step completes it or
 * finds it complete.
 */
export function countSettled(ctx: PushContext, entity: CrmEntity, canonicalId: string, how: 'updated' | 'unchanged'): void {
  const key = `${entity}:${canonicalId}`;
  if (ctx.countedOnce.has(key)) return;
  // an update whose answer was lost and that the CRM shows done was an update
  ctx.stats[entity][how === 'unchanged' && ctx.lostUpdates.has(key) ? 'updated' : how] += 1;
}

async function insertError(ctx: PushContext, entity: CrmEntity, canonicalId: string, method: string, code: string, description: string): Promise<void> {
  await ctx.pool.query(
    `insert into etl.crm_push_error (run_id, portal, entity, canonical_id, method, code, description) values ($1, $2, $3, $4, $5, $6, $7)`,
    [ctx.runId, ctx.links.portal, entity, canonicalId, method, code, description]);
}

/** Keeps a failure of one part of an entity (its requisite, bank detail, address): in etl.crm_push_error and on its link row. */
export async function recordPartFailure(ctx: PushContext, entity: CrmEntity, canonicalId: string, method: string, code: string, description: string): Promise<void> {
  await insertError(ctx, entity, canonicalId, method, code, description);
  await ctx.pool.query(`update etl.crm_link set last_error = $4 where portal = $1 and entity = $2 and canonical_id = $3`,
    [ctx.links.portal, entity, canonicalId, `${method}: ${code ? `${code}: ` : ''}${description}`]);
}

/** The portal's answer to a read of one entity that is not there: `Not found` (crm.*.get, crm-company-get.md). */
export function isNotFound(error: { code: string; description: string }): boolean {
  return error.code === '' && /^not found\.?$/i.test(error.description.trim());
}

/** Entities a manager deleted in the CRM: kept out of it, their contacts wait; counted once. */
export async function recordDeleted(ctx: PushContext, entity: CrmEntity, canonicalIds: readonly string[], how: string): Promise<void> {
  if (canonicalIds.length === 0) return;
  await ctx.links.deleted(entity, canonicalIds, `deleted in the CRM (${how}); not created again: b2b-etl crm restore brings it back, b2b-etl crm let-go lets it go`);
  ctx.stats[entity].deleted += canonicalIds.length;
  ctx.log(`push: ${formatCount(canonicalIds.length)} ${{ company: 'companies', contact: 'contacts', deal: 'deals' }[entity]} deleted in the CRM (${how}): not created again` +
    (entity === 'company' ? '; their contacts and deals wait' : ''));
}

/** Keeps a failure of one entity: in etl.crm_push_error and on its link row (failed, when the CRM does not have it). */
export async function recordFailure(ctx: PushContext, entity: CrmEntity, canonicalId: string, method: string, code: string, description: string): Promise<void> {
  await insertError(ctx, entity, canonicalId, method, code, description);
  await ctx.links.failed(entity, canonicalId, `${method}: ${code ? `${code}: ` : ''}${description}`);
}
