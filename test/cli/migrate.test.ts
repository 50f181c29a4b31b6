import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, readMigrations } from '../../src/db/migrate.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const NO_STACK = /\n\s+at /;
const LAST = readMigrations().at(-1)!.name;

describe('pending migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('a database an older b2b-etl migrated gets one sentence from every command, not a missing column', async () => {
    // what an older version left: the ledger without the newest migration, and none of its objects
    await db.pool.query('drop schema etl, staging, canonical, analytics, graphile_worker cascade');
    const all = readMigrations();
    for (const m of all.slice(0, -1)) await db.pool.query(m.sql);
    await db.pool.query(`create table etl.schema_migration (id serial primary key, name varchar(255), batch integer, migration_time timestamptz)`);
    await db.pool.query(`insert into etl.schema_migration (name, batch, migration_time) select unnest($1::text[]), 1, now()`, [all.slice(0, -1).map((m) => m.name)]);
    for (const args of [['status'], ['transform'], ['why', '7707083893']]) {
      const result = await runCli(args, db.url);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`^b2b-etl: 1 migration pending: run b2b-etl migrate \\(.* lacks ${LAST}\\); nothing was done\\n$`));
    }
    const migrated = await runCli(['migrate'], db.url);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect((await runCli(['status'], db.url)).code).toBe(0);
  });
});

describe('applied migrations are never edited', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('records a checksum per applied migration', async () => {
    const rows = await db.rows<{ name: string; checksum: string }>('select name, checksum from etl.schema_migration order by name');
    expect(rows).toEqual(readMigrations().map((m) => ({ name: m.name, checksum: m.checksum })));
  });

  it('refuses a database whose applied migration differs from the file of the same name, naming the file, changing nothing', async () => {
    const [first] = readMigrations();
    // as if the file had been edited after this database applied it
    await db.pool.query(`update etl.schema_migration set checksum = repeat('0', 64) where name = $1`, [first!.name]);
    await db.pool.query(`create or replace function etl.inn_is_valid(inn text) returns boolean language sql as 'select null::boolean'`);
    const result = await runCli(['migrate'], db.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`b2b-etl: migrations/${first!.name} differs from the migration of that name applied to this database`);
    expect(result.stderr).toContain('Nothing was migrated.');
    expect(result.stderr).not.toMatch(NO_STACK);
    // sql/ was not applied either: the function stays as it was left
    expect(await db.value(`select etl.inn_is_valid('7707083893')`)).toBeNull();
    await db.pool.query('update etl.schema_migration set checksum = $2 where name = $1', [first!.name, first!.checksum]);
    await migrate(db.url);
    expect(await db.value(`select etl.inn_is_valid('7707083893')`)).toBe(true);
  });

  it('refuses a database migrated by a newer version (a migration it has no file for)', async () => {
    await db.pool.query(`insert into etl.schema_migration (name, batch, migration_time, checksum) values ('9999_future.sql', 9, now(), 'x')`);
    await expect(migrate(db.url)).rejects.toThrow(/this database has migration 9999_future\.sql applied .*migrations\/ has no such file/);
    await db.pool.query(`delete from etl.schema_migration where name = '9999_future.sql'`);
  });

  it('a database migrated before checksums were kept gets them recorded on its next migrate', async () => {
    // the ledger as the knex migrator kept it
    await db.pool.query('alter table etl.schema_migration drop column checksum');
    const result = await migrate(db.url);
    expect(result.applied).toEqual([]);
    expect(result.checksumsRecorded).toEqual(readMigrations().map((m) => m.name));
    expect(await db.value('select count(*) from etl.schema_migration where checksum is null')).toBe('0');
    expect((await migrate(db.url)).checksumsRecorded).toEqual([]);
  });
});

describe('connection errors name the setting to fix', () => {
  let closedPort: number;
  beforeAll(async () => {
    // a port nothing listens on: bind one, note it, close it
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
  });

  it('migrate and status with DATABASE_URL pointing nowhere: the server tried, the setting, no stack, no password', async () => {
    const url = `postgres://etl:Pw-9-secret@127.0.0.1:${closedPort}/warehouse?password=Pw-9-secret`;
    for (const command of ['migrate', 'status']) {
      const result = await runCli([command], url);
      expect(result.code, command).toBe(1);
      expect(result.stderr).toBe(`b2b-etl: cannot connect to PostgreSQL at 127.0.0.1:${closedPort}/warehouse as etl (DATABASE_URL): connect ECONNREFUSED 127.0.0.1:${closedPort}\n`);
    }
  });

  it('a DATABASE_URL that is not a URL is a configuration error, not a lookup of a host named after it', async () => {
    const result = await runCli(['status'], 'host=db password=Pw-9-secret');
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('b2b-etl: DATABASE_URL is not a URL like postgres://USER@HOST:5432/DATABASE (a password goes after the user and a colon); unset it for the embedded server\n');
  });

  it('a DATABASE_URL of another scheme (a MySQL URL) is a configuration error naming the scheme, not a protocol error', async () => {
    const result = await runCli(['status'], 'mysql://root:Pw-9-secret@127.0.0.1:3306/test');
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('b2b-etl: DATABASE_URL is a mysql:// URL: give the warehouse\'s PostgreSQL as postgres://USER@HOST:5432/DATABASE (MYSQL_URL names store A\'s MySQL)\n');
  });

  it('land mysql with MYSQL_URL pointing nowhere names MYSQL_URL and the server, not the password', async () => {
    const db = await createTestDatabase();
    try {
      const result = await runCli(['land', 'mysql', '--source', 'store_a'], db.url, { MYSQL_URL: `mysql://shop:My-secret-7@127.0.0.1:${closedPort}/shop` });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`cannot connect to MySQL at 127.0.0.1:${closedPort}/shop as shop (MYSQL_URL)`);
      expect(result.stderr).not.toContain('My-secret-7');
      expect(result.stderr).not.toMatch(NO_STACK);
    } finally {
      await db.drop();
    }
  });
});
