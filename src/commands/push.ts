import { setTimeout as delay } from 'node:timers/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { push, pushOptionsFromConfig, type PushResult } from '../crm/push.js';
import { PushStoppedError } from '../crm/portal-client.js';
import { StopRequestedError } from '../crm/stop.js';
import { WebhookError } from '../crm/webhook.js';
import { describePush } from '../crm/summary.js';
import { configuration, UsageError, log, withDatabase } from './context.js';
import { action, nonNegativeInt, positiveInt } from './define.js';

interface PushFlags {
  dryRun: boolean;
  limit?: number;
  mode?: 'import' | 'add';
  plan?: 'standard' | 'enterprise';
  concurrency?: number;
  progressSeconds: number;
  relink: boolean;
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
      '(a company already in the CRM with the same INN is adopted; the portal is known by what it holds, whatever its address), ' +
      'never deleting anything, and never creating again what a manager deleted; a manager\'s edits in the CRM stand. ' +
      'New entities are created in import mode (crm.item.batchImport: no automation rules or business processes run for them). ' +
      'For a self-signed portal (the sandbox) set NODE_EXTRA_CA_CERTS to its certificate.')
    .option('--dry-run', 'print what would be created, adopted and updated, and how long it would take in import and in add mode, writing nothing to the portal', false)
    .option('--limit <n>', 'create or adopt at most N companies in this run', positiveInt)
    .option('--mode <mode>', 'import (default): no automation on create; add: crm.*.add, which starts the portal\'s automation', choice(['import', 'add'] as const))
    .option('--plan <plan>', 'the portal\'s plan, for its request limits: standard (50, 2/s) or enterprise (250, 5/s)', choice(['standard', 'enterprise'] as const))
    .option('--concurrency <n>', 'batches in flight at once (default 2)', positiveInt)
    .option('--progress-seconds <n>', 'seconds between progress lines (0: none)', nonNegativeInt, 10)
    .option('--relink', 'the portal holds entities this warehouse created but has no links to (a restored database): find them again by INN and by our ORIGIN_ID instead of stopping', false)
    .action(action((flags: PushFlags) => pushCommand(flags)));
}

async function pushCommand(flags: PushFlags): Promise<number> {
  const crm = configuration().crm ?? {};
  let result: PushResult;
  // SIGTERM or Ctrl-C: nothing more is claimed or sent, every wait ends, the batches at the
  // portal are answered and recorded, the summary says what was done; a second signal releases
  // what was never sent and ends the process at once
  const stop = new AbortController();
  let release: (() => Promise<void>) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) {
      log(`push: ${signal} again: stopping at once; what got no answer is looked up by the next push`);
      void Promise.race([release?.(), delay(3000)]).finally(() => process.exit(130));
      return;
    }
    log(`push: ${signal}: finishing the batches at the portal, then stopping (again to stop at once; the next push looks up what was not answered)`);
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const configured = pushOptionsFromConfig(crm);
    result = await withDatabase((db) => push(db.pool, {
      signal: stop.signal,
      onHardStop: (r) => (release = r),
      ...configured,
      webhookUrl: process.env.BITRIX24_WEBHOOK_URL,
      mode: flags.mode ?? configured.mode,
      plan: flags.plan ?? configured.plan,
      dryRun: flags.dryRun,
      limit: flags.limit,
      concurrency: flags.concurrency ?? configured.concurrency,
      relink: flags.relink,
      log,
      progressSeconds: flags.progressSeconds,
    }), { poolSize: 8 });
  } catch (e) {
    if (e instanceof WebhookError) throw new UsageError(e.message);
    if (e instanceof PushStoppedError) {
      log(`b2b-etl push: stopped: ${e.message}`);
      return 1;
    }
    if (e instanceof StopRequestedError) {
      log('b2b-etl push: stopped by a signal before anything was sent');
      return 1;
    }
    throw e;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  if (result.stopped) log(`b2b-etl push: stopped: ${result.stopped}`);
  process.stdout.write(`${describePush(result)}\n`);
  if (result.interrupted) log('b2b-etl push: stopped by a signal before it went through everything: run it again to go on');
  if (result.queued) log(`b2b-etl push: a crm_push job is queued for what is left; b2b-etl worker runs it, or run b2b-etl push again`);
  return result.interrupted || result.stopped || result.stats.unconfirmed + result.stats.leftOut > 0 ? 1 : 0;
}
