import { UsageError, withDatabase } from './context.js';

/** `b2b-etl why 7707083893` or `b2b-etl why store_b:B-17`. */
export async function whyCommand(args: string[]): Promise<number> {
  const subject = args[0];
  if (!subject) throw new UsageError('usage: b2b-etl why INN|SOURCE:KEY');
  const lines = await withDatabase(async (db) => {
    const { rows } = await db.pool.query<{ record: string | null; at: Date | null; kind: string; story: string }>(
      'select record, at, kind, story from etl.why($1)',
      [subject],
    );
    return rows;
  });
  if (lines.length === 0) {
    process.stdout.write(`nothing is known about ${subject}: no source record, rejection or canonical row matches it\n`);
    return 1;
  }
  let current: string | null | undefined;
  for (const line of lines) {
    if (line.record !== current) {
      current = line.record;
      process.stdout.write(current ? `\n${current}\n` : '');
    }
    const at = line.at ? line.at.toISOString().slice(0, 16).replace('T', ' ') : '                ';
    process.stdout.write(`  ${at}  ${line.kind.padEnd(9)}  ${line.story}\n`);
  }
  return 0;
}
