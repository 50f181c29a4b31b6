import type { Command } from 'commander';
import { UsageError, withDatabase } from './context.js';
import { action } from './define.js';

export function defineWhy(program: Command): void {
  program
    .command('why')
    .summary('where a record came from and what became of it')
    .description('Tells the story of a company (by INN) or of one source record (SOURCE:KEY): every version landed, ' +
      'every rejection and merge with its reason, the registry answer, and the canonical row it became (etl.why).')
    .argument('<subject>', 'an INN, or SOURCE:KEY such as store_b:B-17')
    .action(action((subject: string) => whyCommand(subject)));
}

/** `b2b-etl why 7707083893` or `b2b-etl why store_b:B-17`. */
async function whyCommand(subject: string): Promise<number> {
  if (!subject.trim()) throw new UsageError('why: give an INN or SOURCE:KEY, e.g. b2b-etl why store_b:B-17');
  const lines = await withDatabase(async (db) => {
    const { rows } = await db.pool.query<{ record: string; at: Date | null; kind: string; story: string }>(
      'select record, at, kind, story from etl.why($1)',
      [subject],
    );
    return rows;
  });
  if (lines.length === 0) {
    process.stdout.write(`nothing is known about ${subject}: no source record, rejection or canonical row matches it\n`);
    return 1;
  }
  // top-down: each heading once, its facts under it, a blank line between headings
  let current: string | undefined;
  const out: string[] = [];
  for (const line of lines) {
    if (line.record !== current) {
      if (current !== undefined) out.push('');
      current = line.record;
      out.push(current);
    }
    const at = line.at ? line.at.toISOString().slice(0, 16).replace('T', ' ') : '                ';
    out.push(`  ${at}  ${line.kind.padEnd(9)}  ${line.story}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
