import { parseArgs } from 'node:util';
import { loadConfig, mysqlSource, recordFields } from '../config.js';
import { landFile } from '../land/file.js';
import { landMysql } from '../land/mysql.js';
import type { FileEncoding, FileFormat } from '../land/file-reader.js';
import { parseEntity } from '../land/record.js';
import { UsageError, log, withDatabase } from './context.js';

const USAGE = `usage: b2b-etl land file PATH --source NAME --entity companies|contacts [--encoding utf8|cp1251] [--format json|ndjson] [--path JSON.PATH] [--resume] [--batch-size N]
       b2b-etl land mysql --source NAME [--full] [--since DATE] [--reconcile-deletes] [--batch-size N]   (MYSQL_URL)`;

export async function landCommand(args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  if (kind === 'file') return landFileCommand(rest);
  if (kind === 'mysql') return landMysqlCommand(rest);
  throw new UsageError(`land: unknown source kind '${kind ?? ''}'\n${USAGE}`);
}

async function landFileCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      source: { type: 'string' },
      entity: { type: 'string' },
      encoding: { type: 'string' },
      format: { type: 'string' },
      path: { type: 'string' },
      resume: { type: 'boolean', default: false },
      'batch-size': { type: 'string' },
      'max-errors': { type: 'string', default: '0' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const file = positionals[0];
  if (!file || !values.source || !values.entity) throw new UsageError(USAGE);
  const config = loadConfig();
  const encoding = (values.encoding ?? config.sources[values.source]?.encoding ?? 'utf8') as FileEncoding;
  if (encoding !== 'utf8' && encoding !== 'cp1251') throw new UsageError(`--encoding ${encoding}: use utf8 or cp1251`);
  if (values.format && values.format !== 'json' && values.format !== 'ndjson') throw new UsageError(`--format ${values.format}: use json or ndjson`);
  const batchSize = values['batch-size'] ? Number(values['batch-size']) : undefined;
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize > 0)) throw new UsageError('--batch-size must be a positive whole number');
  const maxErrors = Number(values['max-errors']);
  if (!(Number.isInteger(maxErrors) && maxErrors >= 0)) throw new UsageError('--max-errors must be a whole number (records PostgreSQL refuses that may be landed raw and rejected)');
  const entity = parseEntity(values.entity);
  await withDatabase((db) =>
    landFile(db.pool, {
      path: file,
      source: values.source!,
      entity,
      encoding,
      format: values.format as FileFormat | undefined,
      jsonPath: values.path,
      resume: values.resume,
      batchSize,
      maxErrors,
      quiet: values.quiet,
      fields: recordFields(config, values.source!, entity),
    }),
  );
  return 0;
}

async function landMysqlCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      source: { type: 'string' },
      full: { type: 'boolean', default: false },
      since: { type: 'string' },
      'reconcile-deletes': { type: 'boolean', default: false },
      'batch-size': { type: 'string' },
      quiet: { type: 'boolean', default: false },
    },
  });
  if (!values.source) throw new UsageError(USAGE);
  if (values.full && values.since) throw new UsageError('--full reads everything; --since starts an incremental sync elsewhere: give one of them');
  const url = process.env.MYSQL_URL;
  if (!url) throw new UsageError('MYSQL_URL is not set: mysql://USER:PASSWORD@HOST:PORT/DATABASE of the source replica');
  const config = mysqlSource(loadConfig(), values.source);
  if (values['batch-size']) {
    const n = Number(values['batch-size']);
    if (!(Number.isInteger(n) && n > 0)) throw new UsageError('--batch-size must be a positive whole number');
    config.batchSize = n;
  }
  await withDatabase((db) =>
    landMysql(db.pool, {
      url,
      source: values.source!,
      config,
      full: values.full,
      since: values.since,
      reconcileDeletes: values['reconcile-deletes'],
      quiet: values.quiet,
      log,
    }),
  );
  return 0;
}
