import { Option, type Command } from 'commander';
import { badRecordPolicy, mysqlSource, mysqlUrl, recordFields } from '../config.js';
import { landFile } from '../land/file.js';
import { landMysql } from '../land/mysql.js';
import type { FileEncoding, FileFormat } from '../land/file-reader.js';
import { parseEntity } from '../land/record.js';
import { assertFileSource } from '../land/sources.js';
import { configuration, UsageError, log, withDatabase } from './context.js';
import { action, calendarTime, nonNegativeInt, positiveInt, requireOptions } from './define.js';

interface LandFileFlags {
  source: string;
  entity: string;
  encoding?: FileEncoding;
  format?: FileFormat;
  path?: string;
  resume: boolean;
  batchSize?: number;
  maxErrors?: number;
  quiet: boolean;
}

interface LandMysqlFlags {
  source: string;
  full: boolean;
  since?: string;
  reconcileDeletes: boolean;
  forceDeletes: boolean;
  batchSize?: number;
  quiet: boolean;
}

/** `b2b-etl land file|mysql`: a source's records into staging. */
export function defineLand(program: Command): void {
  const land = program
    .command('land')
    .summary('land a JSON/NDJSON file or a MySQL source in staging')
    .description('Lands a source\'s records in staging as they are: every changed record adds a version, the same one twice is stored once.');

  const file = land
    .command('file')
    .summary('land a JSON array, nested array or NDJSON file (gzip too)')
    .description('Lands a JSON array, a nested array (--path), or NDJSON (.ndjson, .jsonl, or --format ndjson), gzip-compressed or not. ' +
      'Each batch commits with the file\'s progress, so --resume continues after the last committed batch.')
    .argument('<file>', 'the file to land')
    .option('--source <name>', 'the source the records come from (as in b2b-etl.config.json)')
    .addOption(new Option('--entity <entity>', 'what the records are').choices(['companies', 'contacts', 'orders']))
    .addOption(new Option('--encoding <encoding>', 'the file\'s text encoding (default: the source\'s, else utf8)').choices(['utf8', 'cp1251']))
    .addOption(new Option('--format <format>', 'json or ndjson (default: by the file name)').choices(['json', 'ndjson']))
    .option('--path <json.path>', 'where the records sit in a JSON document, e.g. contacts or data.items')
    .option('--resume', 'continue after the last batch this file landed', false)
    .option('--batch-size <n>', 'records per committed batch (default 5000)', positiveInt)
    .option('--max-errors <n>', 'records that cannot land as they are that are landed raw and rejected before the load stops (default: the source\'s maxBadRecords, else 0)', nonNegativeInt)
    .option('--quiet', 'no progress lines', false)
    .action(action((path: string, flags: LandFileFlags) => landFileCommand(path, flags)));
  requireOptions(file, '--source', '--entity');

  const mysql = land
    .command('mysql')
    .summary('land a MySQL source: a full load, or incremental from its watermark (MYSQL_URL)')
    .description('Reads the source\'s tables from MYSQL_URL in one consistent snapshot, in keyset pages, and lands each page with the new watermark. ' +
      'The first run, or --full, reads everything; later runs start lagSeconds before the watermark.')
    .option('--source <name>', 'the MySQL source (as in b2b-etl.config.json; store_a is built in)')
    .option('--full', 'read every row instead of from the watermark', false)
    .option('--since <date>', 'start an incremental sync at this time (YYYY-MM-DD[ HH:MM:SS]) instead of the watermark', calendarTime)
    .option('--reconcile-deletes', 'land a deletion for every record the table no longer has', false)
    .option('--force-deletes', 'with --reconcile-deletes: even when more than half of a table\'s live records would go', false)
    .option('--batch-size <n>', 'rows per page (default 5000)', positiveInt)
    .option('--quiet', 'no progress lines', false)
    .action(action((flags: LandMysqlFlags) => landMysqlCommand(flags)));
  requireOptions(mysql, '--source');
}

async function landFileCommand(file: string, flags: LandFileFlags): Promise<number> {
  const config = configuration();
  assertFileSource(config, flags.source);
  const encoding = flags.encoding ?? config.sources[flags.source]?.encoding ?? 'utf8';
  const entity = parseEntity(flags.entity);
  await withDatabase((db) =>
    landFile(db.pool, {
      path: file,
      source: flags.source,
      entity,
      encoding,
      format: flags.format,
      jsonPath: flags.path,
      resume: flags.resume,
      batchSize: flags.batchSize,
      badRecords: badRecordPolicy(config, flags.source, 'file', flags.maxErrors),
      quiet: flags.quiet,
      fields: recordFields(config, flags.source, entity),
    }),
  );
  return 0;
}

async function landMysqlCommand(flags: LandMysqlFlags): Promise<number> {
  if (flags.full && flags.since) throw new UsageError('--full reads everything; --since starts an incremental sync elsewhere: give one of them');
  const config = mysqlSource(configuration(), flags.source);
  const badRecords = badRecordPolicy(configuration(), flags.source, 'mysql');
  const url = mysqlUrl();
  if (flags.batchSize) config.batchSize = flags.batchSize;
  await withDatabase((db) =>
    landMysql(db.pool, {
      url,
      source: flags.source,
      config,
      full: flags.full,
      since: flags.since,
      reconcileDeletes: flags.reconcileDeletes,
      forceDeletes: flags.forceDeletes,
      badRecords,
      quiet: flags.quiet,
      log,
    }),
  );
  return 0;
}
