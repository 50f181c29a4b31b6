import { formatCount, formatDuration } from '../land/progress.js';
import type { PushEstimate } from './estimate.js';
import type { PushResult } from './push.js';

/** What a push did (or, with --dry-run, would do), for people: numbers written one way. */
export function describePush(r: PushResult): string {
  const n = formatCount;
  const waiting = r.waitingForRegistry > 0
    ? [`  ${n(r.waitingForRegistry)} companies wait for the registry's answer before they may go to the CRM: b2b-etl enrich (or worker) checks them`]
    : [];
  if (r.plan) {
    const p = r.plan;
    return [
      `push --dry-run to ${where(r)} (${r.mode} mode), nothing written:`,
      `  companies: ${n(p.company.create)} to create, ${n(p.company.adopt)} to adopt (already in the CRM by INN), ${n(p.company.update)} to update, ${n(p.company.unchanged)} unchanged`,
      `  contacts:  ${n(p.contact.create)} to create, ${n(p.contact.checkedFirst)} to look for first among their companies' contacts in the CRM, ${n(p.contact.update)} to update, ${n(p.contact.unchanged)} unchanged`,
      ...(p.company.deleted + p.contact.deleted
        ? [`  deleted in the CRM, left out: ${n(p.company.deleted)} companies, ${n(p.contact.deleted)} contacts; ${n(p.contact.waiting)} contacts wait for their deleted company (b2b-etl crm deleted)`]
        : []),
      ...waiting,
      ...(r.estimate ? describeEstimate(r.estimate) : []),
      ...(p.examples.create.length ? ['  would create, for example:', ...p.examples.create.map((x) => `    ${x}`)] : []),
      ...(p.examples.adopt.length ? ['  would adopt:', ...p.examples.adopt.map((x) => `    ${x}`)] : []),
      ...(p.examples.update.length ? ['  would update:', ...p.examples.update.map((x) => `    ${x}`)] : []),
    ].join('\n');
  }
  const line = (label: string, s: PushResult['stats']['company']) =>
    `  ${label} ${n(s.created)} created, ${n(s.adopted)} adopted, ${n(s.updated)} updated, ${n(s.unchanged)} unchanged, ${n(s.failed)} failed` +
    (s.deleted ? `, ${n(s.deleted)} found deleted in the CRM (left out)` : '');
  const rate = (x: number) => (x / Math.max(r.seconds, 0.001)).toFixed(1);
  const s = r.stats;
  return [
    `push run ${r.runId} to ${where(r)} (${r.mode} mode) in ${r.seconds.toFixed(1)}s:`,
    line('companies:', s.company),
    line('contacts: ', s.contact),
    line('deals:    ', s.deal),
    ...(s.dealsDatedLater ? [`  ${n(s.dealsDatedLater)} deals are older than deals already in the portal: imported at the oldest creation time import allows, each with its order's date as its begin date (BEGINDATE)`] : []),
    `  ${n(r.pacing.requests)} requests (${rate(r.pacing.requests)}/s), ${n(r.commands)} commands in batches (${rate(r.commands)}/s); ` +
      `refused by the portal: ${n(r.pacing.refusedForBucket)} for its request limit, ${n(r.pacing.refusedForOperating)} for operating time`,
    ...(s.refused ? [`  ${n(s.refused)} writes the portal refused before running them (its limits): sent by the next push`] : []),
    ...(s.unknownOutcomes ? [`  ${n(s.unknownOutcomes)} writes got no answer` +
      (s.sentAgain ? `; after looking the CRM up, ${n(s.sentAgain)} entities were taken up again in this run (sent again where the CRM did not have them, completed where it did)` : '')] : []),
    ...(s.unconfirmed ? [`  ${n(s.unconfirmed)} writes are still without an answer (the run stopped first): the next push looks them up before sending anything`] : []),
    ...(s.leftOut ? [`  ${n(s.leftOut)} entities are not in the CRM: every write of theirs got no answer and the CRM did not have them; the next push sends them again`] : []),
    ...(s.company.failed + s.contact.failed + s.deal.failed ? ['  failures and the portal\'s words: select * from etl.crm_push_error where run_id = ' + r.runId] : []),
    ...(s.company.deleted + s.contact.deleted + s.deal.deleted ? ['  deleted in the CRM: b2b-etl crm deleted lists them; b2b-etl crm restore brings one back'] : []),
    ...(r.departed.company + r.departed.contact + r.departed.deal
      ? [`  no longer in the clean base, left in the CRM as they are: ${n(r.departed.company)} companies, ${n(r.departed.contact)} contacts, ${n(r.departed.deal)} deals (etl.crm_link without a row in etl.crm_company_out / crm_contact_out / crm_deal_out)`]
      : []),
    ...waiting,
  ].join('\n');
}

/** The portal by its name, and the address it was reached at when that is another. */
const where = (r: PushResult) => `portal ${r.portal}${r.address === r.portal ? '' : ` at ${r.address}`}`;

/** How long the plan takes in each mode, and what bounds it. */
function describeEstimate(e: PushEstimate): string[] {
  const n = formatCount;
  const perWindow = `${e.limits.operatingLimit} s per ${e.limits.operatingWindow >= 120 ? `${e.limits.operatingWindow / 60} min` : `${e.limits.operatingWindow} s`}`;
  const cost = (m: PushEstimate['import']) => m.costPerItem === null
    ? `${n(m.items)} creates, their execution cost unknown (this portal has not reported one, the docs give none): not counted`
    : `${n(m.items)} creates at ${m.costPerItem.toFixed(m.costPerItem < 0.1 ? 3 : 2)} s of execution an item (${m.costFrom === 'learned' ? 'as this portal reported in earlier pushes' : 'the docs\' example; this portal has not reported its own yet'}), ${perWindow}: ${formatDuration(m.executionSeconds)}`;
  const pace = e.answerSeconds !== null && e.answerSeconds * e.limits.drain > e.concurrency
    ? `as this portal answered a batch in ${e.answerSeconds.toFixed(1)} s, ${e.concurrency} at a time (--concurrency)`
    : `at ${e.limits.drain}/s`;
  const mode = (label: string, m: PushEstimate['import'], note: string) =>
    `    ${label} about ${formatDuration(m.seconds)}: ${n(m.requests)} requests ${pace} take ${formatDuration(m.requestSeconds)}; ${cost(m)}${note}`;
  return [
    '  how long it would take:',
    mode('import mode (no automation):', e.import, ''),
    mode('add mode:', e.add, '; starts the portal\'s automation for every entity it creates'),
  ];
}
