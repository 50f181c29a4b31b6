import { Option, type Command } from 'commander';
import { generate, STORE_A_DUMP, STORE_B_EVENTS, type GenerateOptions, type Scale } from '../generate/index.js';
import { log } from './context.js';
import { action, nonNegativeInt, requireOptions } from './define.js';

/** The generator's options, with the defaults commander fills in. */
type GenerateFlags = GenerateOptions & { scale: Scale; seed: number };

export function defineGenerate(program: Command): void {
  const command = program
    .command('generate')
    .summary('deterministic sample data with its expected outcome')
    .description('Writes store B\'s files (companies, contacts, orders), store A\'s MySQL dump (with orders and their lines), store B\'s events, a registry snapshot, and truth.json ' +
      '(the expected outcome of every record); the same seed gives the same data.')
    .option('--out <dir>', 'the folder to write')
    .addOption(new Option('--scale <scale>', 'small or seed (the real stores\' volumes)').choices(['small', 'seed']).default('small'))
    .option('--seed <n>', 'the random seed', nonNegativeInt, 1)
    .option('--as-of <date>', 'the day the data is as of (YYYY-MM-DD)')
    .option('--companies <n>', 'store B companies instead of the scale\'s', nonNegativeInt)
    .option('--contacts <n>', 'store B contacts instead of the scale\'s', nonNegativeInt)
    .option('--store-a-companies <n>', 'store A companies instead of the scale\'s', nonNegativeInt)
    .option('--store-a-contacts <n>', 'store A contacts instead of the scale\'s', nonNegativeInt)
    .option('--events <n>', 'store B events instead of the scale\'s', nonNegativeInt)
    .action(action((flags: GenerateFlags) => generateCommand(flags)));
  requireOptions(command, '--out');
}

async function generateCommand(values: GenerateFlags): Promise<number> {
  const started = Date.now();
  const { manifest, truth } = await generate(values);
  const n = (o: object) => Object.keys(o).length;
  log(`generated ${n(truth.store_b.companies)} store B companies, ${n(truth.store_b.contacts)} contacts and ` +
    `${n(truth.store_b.orders)} orders (${manifest.length} files), ` +
    `store A's ${n(truth.store_a.companies)} companies, ${n(truth.store_a.contacts)} contacts and ${n(truth.store_a.orders)} orders (${STORE_A_DUMP}), ` +
    `${truth.store_b_events.messages} store B events (${STORE_B_EVENTS}) in ${values.out} with truth.json and manifest.json ` +
    `in ${((Date.now() - started) / 1000).toFixed(1)}s; load window starts ${truth.window_start}`);
  return 0;
}
