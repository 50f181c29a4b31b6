import { BATCH_MAX, packBatches } from './batches.js';
import { addPieces, IMPORT_MAX, importPieces } from './companies.js';
import type { PushContext } from './context.js';
import type { PortalLimits } from './pacing.js';
import type { PushPlan } from './plan.js';

/**
 * Seconds of the portal's execution time an imported item costs when this portal has not said
 * yet: the docs' own example (crm.item.batchImport of two deals, `operating` 2.38 s).
 */
export const DOCS_IMPORT_SECONDS_PER_ITEM = 1.19;

/** crm.requisite.list takes 25 INNs a command in a lookup. */
const INNS_PER_LOOKUP = 25;

/** One way of pushing the plan: its requests, its execution time, and which of them bounds it. */
export interface ModeEstimate {
  requests: number;
  /** Items created by the method the portal's execution-time limit bounds (import), or commands (add). */
  items: number;
  /** Execution seconds an item costs; null when the portal never said and the docs give no figure. */
  costPerItem: number | null;
  /** learned: from this portal's answers; docs: the docs' example. */
  costFrom: 'learned' | 'docs' | null;
  /** At the request rate (or, when slower, at the time this portal took to answer a batch, so many in flight), and at the execution-time limit alone. */
  requestSeconds: number;
  executionSeconds: number;
  seconds: number;
}

export interface PushEstimate {
  import: ModeEstimate;
  add: ModeEstimate;
  limits: PortalLimits;
  /** Seconds this portal took to answer a batch in earlier pushes (null: never pushed to), and batches in flight. */
  answerSeconds: number | null;
  concurrency: number;
}

/**
 * How long the plan takes on this portal in each mode, so a person can choose before a mass
 * load: requests at the bucket's drain, and the items of the method the portal's
 * execution-time limit bounds (operatingLimit seconds per operatingWindow) at their cost — as
 * learned from this portal's answers in earlier pushes, else the docs' example. The longer of
 * the two is the estimate.
 */
export async function estimatePush(ctx: PushContext, plan: PushPlan, concurrency: number): Promise<PushEstimate> {
  const pacing = ctx.client.pacing;
  const limits = pacing.limits;
  const used = await pacing.operatingNow('crm.item.batchImport');
  // how long this portal took to answer a batch in earlier pushes: `concurrency` in flight at once
  const answerSeconds = await pacing.costPerUnit('batch');
  const lookups = Math.ceil(Math.ceil(plan.lookedUp / INNS_PER_LOOKUP) / BATCH_MAX);
  // updates read before they write: about a read and a write a company (with its parts), a contact
  const updates = Math.ceil((plan.company.update * 3 + plan.contact.update * 2 + plan.contact.checkedFirst / 10) / BATCH_MAX);

  // the batches the push itself would send to create them, packed as it packs them
  const importCost = await pacing.costPerUnit('crm.item.batchImport');
  const perRequest = importCost ? Math.max(1, Math.floor((limits.operatingLimit * 0.5) / importCost)) : Infinity;
  const companyImports = packBatches(importPieces(ctx, plan.toCreate, perRequest), BATCH_MAX, Infinity).length;
  const contactImports = Math.ceil(plan.contact.create / Math.min(BATCH_MAX * IMPORT_MAX, perRequest));
  const importItems = plan.company.create + plan.contact.create;
  const imported = mode(lookups + companyImports + contactImports + updates, importItems, importCost ?? DOCS_IMPORT_SECONDS_PER_ITEM, importCost ? 'learned' : 'docs');

  // add mode: a command a company (with its chain), one a contact; an add's cost as this portal reported it, if it did
  const companyAdds = packBatches(addPieces(ctx, plan.toCreate), BATCH_MAX, Infinity).length;
  const addCost = (await pacing.costPerUnit('crm.company.add')) ?? (await pacing.costPerUnit('crm.contact.add'));
  const added = mode(lookups + companyAdds + Math.ceil(plan.contact.create / BATCH_MAX) + updates, importItems, addCost, addCost ? 'learned' : null);
  return { import: imported, add: added, limits, answerSeconds, concurrency };

  function mode(requests: number, items: number, cost: number | null, from: ModeEstimate['costFrom']): ModeEstimate {
    const requestSeconds = Math.max(requests / limits.drain, answerSeconds === null ? 0 : (requests * answerSeconds) / concurrency);
    const executionSeconds = cost === null ? 0 : executionBound(items * cost, limits, used);
    return { requests, items, costPerItem: cost, costFrom: from, requestSeconds, executionSeconds, seconds: Math.max(requestSeconds, executionSeconds) };
  }
}

/**
 * Seconds a method's `seconds` of execution take within the portal's limit: what the window
 * has left now (the limit less what it used, `used`) goes at once, the rest at the limit's
 * pace (operatingLimit per operatingWindow).
 */
export function executionBound(seconds: number, limits: PortalLimits, used = 0): number {
  const free = Math.max(limits.operatingLimit - used, 0);
  return Math.max(seconds - free, 0) / (limits.operatingLimit / limits.operatingWindow);
}
