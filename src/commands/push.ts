import { InvalidArgumentError, type Command } from 'commander';
import { push, pushOptionsFromConfig, type PushResult } from '../crm/push.js';
import { PushStoppedError } from '../crm/portal-client.js';
import { WebhookError } from '../crm/webhook.js';
import { formatCount } from '../land/progress.js';
import { configuration, UsageError, log, withDatabase } from './context.js';
import { action, nonNegativeInt, positiveInt } from './define.js';

interface PushFlags {
  dryRun: boolean;
  limit?: number;
  mode?: 'import' | 'add';
  plan?: 'standard' | 'enterprise';
  concurrency?: number;
  progressSeconds: number;
}

const choice = <T extends string>(allowed: readonly T[]) => (value: string): T => {
  if (!allowed.includes(value as T)) throw new InvalidArgumentError(`Expected ${allowed.join(' or ')}.`);
  return value as T;
};

export function definePush(program: Command): void {
  program
    .command('push')
    .summary('push the clean base to Bitrix24 (BITRIX24_WEBHOOK_URL): companies with requisites, then contacts')
    .description('Pushes ready companies (with requisite, bank detail, legal address) and their contacts to the portal of ' +
      'BITRIX24_WEBHOOK_URL: only what changed since the last push, within the portal\'s limits, never a duplicate ' +
      '(a company already in the CRM with the same INN is adopted), never deleting anything; a manager\'s edits in the CRM stand. ' +
      'New entities are created in import mode (crm.item.batchImport: no automation rules or business processes run for them). ' +
      'For a self-signed portal (the sandbox) set NODE_EXTRA_CA_CERTS to its certificate.')
    .option('--dry-run', 'print what would be created, adopted and updated, writing nothing to the portal', false)
    .option('--limit <n>', 'create or adopt at most N companies in this run', positiveInt)
    .option('--mode <mode>', 'import (default): no automation on create; add: crm.*.add, which starts the portal\'s automation', choice(['import', 'add'] as const))
    .option('--plan <plan>', 'the portal\'s plan, for its request limits: standard (50, 2/s) or enterprise (250, 5/s)', choice(['standard', 'enterprise'] as const))
    .option('--concurrency <n>', 'batches in flight at once (default 2)', positiveInt)
    .option('--progress-seconds <n>', 'seconds between progress lines (0: none)', nonNegativeInt, 10)
    .action(action((flags: PushFlags) => pushCommand(flags)));
}

async function pushCommand(flags: PushFlags): Promise<number> {
  const crm = configuration().crm ?? {};
  let result: PushResult;
  // SIGTERM or Ctrl-C: nothing more is claimed, the batches in flight are answered and
  // recorded, the summary says what was done; a second signal ends the process at once
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    log(`push: ${signal}: finishing the batches in flight, then stopping (again to stop at once; the next push looks up what was not answered)`);
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const configured = pushOptionsFromConfig(crm);
    result = await withDatabase((db) => push(db.pool, {
      signal: stop.signal,
      ...configured,
      webhookUrl: process.env.BITRIX24_WEBHOOK_URL,
      mode: flags.mode ?? configured.mode,
      plan: flags.plan ?? configured.plan,
      dryRun: flags.dryRun,
      limit: flags.limit,
      concurrency: flags.concurrency ?? configured.concurrency,
      log,
      progressSeconds: flags.progressSeconds,
    }), { poolSize: 8 });
  } catch (e) {
    if (e instanceof WebhookError) throw new UsageError(e.message);
    if (e instanceof PushStoppedError) {
      log(`b2b-etl push: stopped: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  process.stdout.write(`${describe(result)}\n`);
  if (result.interrupted) {
    log('b2b-etl push: stopped by a signal before it went through everything: run it again to go on');
    return 1;
  }
  return 0;
}

function describe(r: PushResult): string {
  const n = formatCount;
  if (r.plan) {
    const p = r.plan;
    return [
      `push --dry-run to ${r.portal} (${r.mode} mode), nothing written:`,
      `  companies: ${n(p.company.create)} to create, ${n(p.company.adopt)} to adopt (already in the CRM by INN), ${n(p.company.update)} to update, ${n(p.company.unchanged)} unchanged`,
      `  contacts:  ${n(p.contact.create)} to create, ${n(p.contact.checkedFirst)} to look for first among their companies' contacts in the CRM, ${n(p.contact.update)} to update, ${n(p.contact.unchanged)} unchanged`,
      ...(p.examples.create.length ? ['  would create, for example:', ...p.examples.create.map((x) => `    ${x}`)] : []),
      ...(p.examples.adopt.length ? ['  would adopt:', ...p.examples.adopt.map((x) => `    ${x}`)] : []),
      ...(p.examples.update.length ? ['  would update:', ...p.examples.update.map((x) => `    ${x}`)] : []),
    ].join('\n');
  }
  const line = (label: string, s: PushResult['stats']['company']) =>
    `  ${label} ${n(s.created)} created, ${n(s.adopted)} adopted, ${n(s.updated)} updated, ${n(s.unchanged)} unchanged, ${n(s.failed)} failed`;
  const rate = (x: number) => (x / Math.max(r.seconds, 0.001)).toFixed(1);
  return [
    `push run ${r.runId} to ${r.portal} (${r.mode} mode) in ${r.seconds.toFixed(1)}s:`,
    line('companies:', r.stats.company),
    line('contacts: ', r.stats.contact),
    `  ${n(r.pacing.requests)} requests (${rate(r.pacing.requests)}/s), ${n(r.commands)} commands in batches (${rate(r.commands)}/s); ` +
      `refused by the portal: ${r.pacing.refusedForBucket} for its request limit, ${r.pacing.refusedForOperating} for operating time`,
    ...(r.stats.refused ? [`  ${n(r.stats.refused)} writes the portal refused before running them (its limits): sent by the next push`] : []),
    ...(r.stats.unknownOutcomes ? [`  ${n(r.stats.unknownOutcomes)} adds got no answer and were looked up in the CRM before anything was sent again`] : []),
    ...(r.stats.company.failed + r.stats.contact.failed ? ['  failures and the portal\'s words: select * from etl.crm_push_error where run_id = ' + r.runId] : []),
    ...(r.departed.company + r.departed.contact
      ? [`  no longer in the clean base, left in the CRM as they are: ${n(r.departed.company)} companies, ${n(r.departed.contact)} contacts (etl.crm_link without a row in etl.crm_company_out / crm_contact_out)`]
      : []),
  ].join('\n');
}
