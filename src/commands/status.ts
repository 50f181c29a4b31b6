import type { Command } from 'commander';
import { pipelineStatus, statusText } from '../audit/status.js';
import { configuration, withDatabase } from './context.js';
import { action } from './define.js';

export function defineStatus(program: Command): void {
  program
    .command('status')
    .summary('is it healthy, and what needs a person: sources, jobs, funnel, rejections, registry, CRM')
    .description('Says first what needs a person (a job that failed every attempt, a paused registry provider, a push that stopped, ' +
      'a source that landed nothing for longer than status.maxFeedAge), then per source its last landing, MySQL watermarks, Kafka ' +
      'offsets and file loads; the jobs by task; the funnel (etl.funnel); the open rejections and their change since the transform ' +
      'before the last; the registry; and per CRM portal what is in it, what the next push sends, failures and deletions. ' +
      'Exits 1 when something needs a person.')
    .option('--json', 'the same as one JSON object, for scripts', false)
    .action(action((flags: { json: boolean }) => statusCommand(flags)));
}

async function statusCommand(flags: { json: boolean }): Promise<number> {
  const { status, text } = await withDatabase(async (db) => {
    const status = await pipelineStatus(db.pool, configuration());
    return { status, text: flags.json ? JSON.stringify(status, null, 2) : await statusText(db.pool, status) };
  });
  process.stdout.write(text + '\n');
  return status.needs.length > 0 ? 1 : 0;
}
