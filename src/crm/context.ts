import type pg from 'pg';
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
}

export interface PushStats {
  company: EntityStats;
  contact: EntityStats;
  /** Creates the portal refused before running them (its limits): left for the next push. */
  refused: number;
  /** Entities found twice in the CRM by our ORIGIN_ID (should stay 0). */
  duplicatesFound: number;
  /** Entities whose add got no answer and that were looked up before anything was sent again. */
  unknownOutcomes: number;
}

export const emptyStats = (): PushStats => {
  const entity = (): EntityStats => ({ created: 0, adopted: 0, updated: 0, unchanged: 0, failed: 0 });
  return { company: entity(), contact: entity(), refused: 0, duplicatesFound: 0, unknownOutcomes: 0 };
};

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
}

/**
 * Counts an entity the run brought up to date, once: one already counted created (its lost
 * add found in the CRM) or adopted is not counted again when the next step completes it or
 * finds it complete.
 */
export function countSettled(ctx: PushContext, entity: CrmEntity, canonicalId: string, how: 'updated' | 'unchanged'): void {
  if (!ctx.countedOnce.has(`${entity}:${canonicalId}`)) ctx.stats[entity][how] += 1;
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

/** Keeps a failure of one entity: in etl.crm_push_error and on its link row (failed, when the CRM does not have it). */
export async function recordFailure(ctx: PushContext, entity: CrmEntity, canonicalId: string, method: string, code: string, description: string): Promise<void> {
  await insertError(ctx, entity, canonicalId, method, code, description);
  await ctx.links.failed(entity, canonicalId, `${method}: ${code ? `${code}: ` : ''}${description}`);
}
