import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/commands/program.js';
import {
  checkSourceNames, ConfigError, kafkaConnection, kafkaSource, loadConfig, mysqlSource, parseConfig, recordFields, registryConfig,
} from '../../src/config.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, databaseUrl, type TestDatabase } from '../helpers/db.js';
import { BROKERS, kafkaAvailable } from '../helpers/kafka.js';

const dir = mkdtempSync(join(tmpdir(), 'b2b-etl-config-'));

function configFile(name: string, body: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  return path;
}

function problems(body: unknown): string {
  try {
    parseConfig(JSON.stringify(body), 'b2b-etl.config.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('the config file is checked whole', () => {
  it('reports every wrong type, unknown key and bad value at once, each with its path, naming the file', () => {
    const message = problems({
      sources: {
        store_b: { encoding: 'latin1', companies: { key: 5, updatd: 'changed' } },
        store_a: { mysql: { timezone: '3', lagSeconds: -1, companies: { table: 'companies; drop table x' } } },
      },
      registry: { provider: 'egrul', rps: 0 },
      regsitry: {},
    });
    expect(message).toMatch(/^b2b-etl\.config\.json: 9 problems, nothing was run:/);
    const lines = message.split('\n').slice(1).map((l) => l.trim());
    expect(lines).toEqual(expect.arrayContaining([
      'sources.store_b.companies.key: expected a string, got 5',
      'sources.store_b.companies.updatd: unknown setting (sources.store_b.companies takes key, updated, deleted, updatedFormat)',
      'sources.store_b.encoding: expected "utf8" or "cp1251", got "latin1"',
      'sources.store_a.mysql.timezone: expected an offset like +03:00, got "3"',
      'sources.store_a.mysql.lagSeconds: must be at least 0, got -1',
      'sources.store_a.mysql.companies.table: expected a plain MySQL identifier (letters, digits, _ and $), got "companies; drop table x"',
      'registry.provider: expected "dadata" or "snapshot", got "egrul"',
      'registry.rps: must be greater than 0, got 0',
    ]));
    expect(lines.some((l) => l.startsWith('regsitry: unknown setting'))).toBe(true);
  });

  it('checks the Kafka sections: the source\'s topic settings and the cluster connection', () => {
    const message = problems({
      sources: { store_b_events: { kafka: { topic: '', partitionsInParallel: 1.5, fallbackEncoding: 'koi8-r', extra: true } } },
      kafka: { tls: 'yes', sasl: { mechanism: 'gssapi', password: 'x' } },
    });
    const lines = message.split('\n').slice(1).map((l) => l.trim());
    expect(lines).toEqual(expect.arrayContaining([
      'sources.store_b_events.kafka.topic: must not be empty',
      'sources.store_b_events.kafka.partitionsInParallel: expected a whole number, got 1.5',
      'sources.store_b_events.kafka.fallbackEncoding: expected "cp1251", got "koi8-r"',
      'kafka.tls: expected true or false or an object, got "yes"',
      'kafka.sasl.mechanism: expected "plain" or "scram-sha-256" or "scram-sha-512", got "gssapi"',
    ]));
    expect(lines.some((l) => l.startsWith('sources.store_b_events.kafka.extra: unknown setting'))).toBe(true);
    // the password has no place in the file: the environment holds it
    expect(lines.some((l) => l.startsWith('kafka.sasl.password: unknown setting (kafka.sasl takes mechanism)'))).toBe(true);
  });

  it('says where JSON that does not parse breaks', () => {
    expect(() => parseConfig('{\n  "sources": {\n    "x": {},\n  }\n}', 'cfg.json')).toThrow(/^cfg\.json: not valid JSON at line 4, column 3/);
  });

  it('a valid file gives the typed settings the loaders use, defaults filled in', () => {
    const config = parseConfig(JSON.stringify({
      sources: {
        store_b: { encoding: 'cp1251', contacts: { key: 'contact_id' } },
        store_a: { mysql: { lagSeconds: 60, contacts: { table: 'people' } } },
        shop_events: { kafka: { topic: 'shop.events', partitionsInParallel: 4 } },
      },
      registry: { provider: 'dadata', rps: 5 },
    }), 'b2b-etl.config.json');
    expect(recordFields(config, 'store_b', 'contact')).toEqual({ key: 'contact_id', updated: 'updated' });
    expect(mysqlSource(config, 'store_a')).toMatchObject({ textEncoding: 'cp1251', lagSeconds: 60, contacts: { table: 'people', key: 'id', updated: 'updated_at' } });
    expect(kafkaSource(config, 'shop_events')).toMatchObject({ topic: 'shop.events', groupId: 'b2b-etl', recordSource: 'shop_events', partitionsInParallel: 4, fallbackEncoding: 'cp1251' });
    expect(registryConfig(config)).toMatchObject({ provider: 'dadata', rps: 5, concurrency: 16 });
  });

  it('B2B_ETL_CONFIG naming a missing file is an error, no file at all is the defaults', () => {
    const saved = process.env.B2B_ETL_CONFIG;
    try {
      process.env.B2B_ETL_CONFIG = join(dir, 'no-such.json');
      expect(() => loadConfig()).toThrow(/no-such\.json: configuration file not found \(named by B2B_ETL_CONFIG\)/);
      delete process.env.B2B_ETL_CONFIG;
      expect(loadConfig(join(dir, 'absent.json'))).toEqual({ sources: {} });
    } finally {
      if (saved === undefined) delete process.env.B2B_ETL_CONFIG; else process.env.B2B_ETL_CONFIG = saved;
    }
  });
});

describe('what the file may say', () => {
  it('a file saved with a UTF-8 byte order mark is read like one without', () => {
    const body = JSON.stringify({ sources: { store_b: { encoding: 'cp1251' } } });
    expect(parseConfig(`\uFEFF${body}`, 'c.json')).toEqual(parseConfig(body, 'c.json'));
    const file = configFile('bom.json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)]).toString('utf8'));
    expect(loadConfig(file).sources.store_b).toEqual({ encoding: 'cp1251' });
  });

  it('a source name that is neither built in, nor has its own mysql or kafka section, nor is mapped is a problem with its path', () => {
    const config = parseConfig(JSON.stringify({
      sources: { sotre_b: { encoding: 'utf8' }, store_b: { encoding: 'cp1251' }, shop: { kafka: { topic: 't' } }, shop_db: { mysql: {} }, store_x: {} },
    }), 'c.json');
    let message = '';
    try {
      checkSourceNames(config, ['store_a', 'store_b'], 'c.json');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'c.json: 2 problems, nothing was run:',
      '  sources.sotre_b: unknown source (known: shop, shop_db, store_a, store_b, store_b_events; a source of your own needs a mysql or kafka section, ' +
        'or a mapping view in staging.mapped_source for its files)',
      expect.stringMatching(/^ {2}sources\.store_x: unknown source/),
    ]);
    // a file source with a mapping view of its own is known through the database
    expect(() => checkSourceNames(parseConfig('{"sources":{"store_c":{}}}', 'c.json'), ['store_a', 'store_b', 'store_c'], 'c.json')).not.toThrow();
  });

  it('--topic serves a Kafka source that has no topic configured; a source with no Kafka section is refused', () => {
    const config = parseConfig(JSON.stringify({ sources: { shop_events: { kafka: { recordSource: 'store_b' } } } }), 'c.json');
    expect(kafkaSource(config, 'shop_events', { topic: 'hx', groupId: 'g' })).toMatchObject({ topic: 'hx', groupId: 'g', recordSource: 'store_b' });
    expect(() => kafkaSource(config, 'shop_events')).toThrow(/no sources\.shop_events\.kafka\.topic configured .* and no --topic given/);
    expect(() => kafkaSource(config, 'store_b', { topic: 'hx' }))
      .toThrow(/^store_b is not a Kafka source: the Kafka sources are store_b_events \(built in\), shop_events;/);
  });
});

describe('every command checks the config file before it runs', () => {
  const broken = () => configFile('broken.json', { sources: { store_b: { encoding: 'latin1' } } });

  async function inProcess(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    try {
      return { code: await main(args), stderr };
    } finally {
      spy.mockRestore();
      vi.unstubAllEnvs();
    }
  }

  it('status, transform, migrate, enrich, why, generate and sandbox stop with exit 2 on a broken file', async () => {
    const config = broken();
    for (const args of [['status'], ['transform'], ['migrate'], ['enrich'], ['why', '7707083893'], ['generate', '--out', join(dir, 'g')], ['sandbox', '--port', '0']]) {
      // a server that is not there: whatever would run without the check fails on it instead of touching a database
      const result = await inProcess(args, { B2B_ETL_CONFIG: config, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toBe(`b2b-etl: ${config}: 1 problem, nothing was run:\n  sources.store_b.encoding: expected "utf8" or "cp1251", got "latin1"\n`);
    }
  });

  it('migrate on a broken file changes nothing in the database', async () => {
    const database = `b2b_etl_test_config_${process.pid}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(`drop database if exists ${database}`);
      await admin.query(`create database ${database}`);
      const result = await runCli(['migrate'], databaseUrl(database), { B2B_ETL_CONFIG: broken() });
      expect(result.code).toBe(2);
      const client = new pg.Client({ connectionString: databaseUrl(database) });
      await client.connect();
      const { rows } = await client.query(`select count(*)::int as n from information_schema.schemata where schema_name in ('etl', 'staging', 'canonical')`);
      await client.end();
      expect(rows[0].n).toBe(0);
    } finally {
      await admin.query(`drop database if exists ${database} with (force)`);
      await admin.end();
    }
  });
});

describe('Kafka TLS and SASL', () => {
  it('take the mechanism and TLS from the file and the credentials from the environment', () => {
    const ca = configFile('ca.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const config = parseConfig(JSON.stringify({ kafka: { tls: { caFile: ca, servername: 'kafka.internal' }, sasl: { mechanism: 'scram-sha-512' } } }), 'c.json');
    const connection = kafkaConnection(config, { KAFKA_SASL_USERNAME: 'etl', KAFKA_SASL_PASSWORD: 'pw-from-env' });
    expect(connection.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'etl', password: 'pw-from-env' });
    expect(connection.ssl).toEqual({ ca: ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'], rejectUnauthorized: true, servername: 'kafka.internal' });
    expect(kafkaConnection(parseConfig('{"kafka":{"tls":true}}', 'c.json'), {})).toEqual({ ssl: true });
    expect(kafkaConnection(parseConfig('{}', 'c.json'), {})).toEqual({});
  });

  it('a SASL mechanism without its credentials, or a CA file that is not there, is a configuration error', () => {
    const sasl = parseConfig('{"kafka":{"sasl":{"mechanism":"plain"}}}', 'c.json');
    expect(() => kafkaConnection(sasl, { KAFKA_SASL_USERNAME: 'etl' })).toThrow(/kafka\.sasl\.mechanism is plain: set KAFKA_SASL_PASSWORD in the environment/);
    const tls = parseConfig(JSON.stringify({ kafka: { tls: { caFile: join(dir, 'missing-ca.pem') } } }), 'c.json');
    expect(() => kafkaConnection(tls, {})).toThrow(/kafka\.tls\.caFile .*missing-ca\.pem: cannot read the certificate authority file/);
  });
});

describe('commands and a bad config file', () => {
  let db: TestDatabase;
  let kafka = false;
  beforeAll(async () => {
    db = await createTestDatabase();
    kafka = await kafkaAvailable();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('land file lists every problem of the file, exits 2 and lands nothing', async () => {
    const config = configFile('bad.json', { sources: { store_b: { companies: { key: 5 }, contacts: { key: 'id', deleted: false } } } });
    const data = configFile('companies.json', [{ id: 'A-1', inn: '7707083893' }]);
    const result = await runCli(['land', 'file', data, '--source', 'store_b', '--entity', 'companies'], db.url, { B2B_ETL_CONFIG: config });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`b2b-etl: ${config}: 2 problems, nothing was run:`);
    expect(result.stderr).toContain('sources.store_b.companies.key: expected a string, got 5');
    expect(result.stderr).toContain('sources.store_b.contacts.deleted: expected a string, got false');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await db.value('select count(*) from staging.record')).toBe('0');
  });

  it('consume with SASL against a broker that does not speak it fails at once, naming the settings, never the password', async (context) => {
    if (!kafka) context.skip();
    const config = configFile('sasl.json', { kafka: { sasl: { mechanism: 'scram-sha-256' } } });
    const password = 'kafka-Pa55-word';
    const result = await runCli(['consume', '--source', 'store_b_events', '--no-transform'], db.url,
      { B2B_ETL_CONFIG: config, KAFKA_BROKERS: BROKERS.join(','), KAFKA_SASL_USERNAME: 'etl', KAFKA_SASL_PASSWORD: password });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/b2b-etl: cannot connect to Kafka at .* \(KAFKA_BROKERS, KAFKA_SASL_USERNAME\/KAFKA_SASL_PASSWORD\): .*; nothing was consumed/);
    expect(result.stderr).not.toContain(password);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('a mistyped source name stops a command that opens the database, listing the known names', async () => {
    const typo = configFile('typo.json', { sources: { sotre_b: { encoding: 'cp1251' } } });
    const result = await runCli(['status'], db.url, { B2B_ETL_CONFIG: typo });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`b2b-etl: ${typo}: 1 problem, nothing was run:\n  sources.sotre_b: unknown source (known: store_a, store_b, store_b_events; ` +
      'a source of your own needs a mysql or kafka section, or a mapping view in staging.mapped_source for its files)\n');
    const fine = configFile('fine.json', { sources: { store_b: { encoding: 'cp1251' }, shop_events: { kafka: { topic: 'shop.events', recordSource: 'store_b' } } } });
    const status = await runCli(['status'], db.url, { B2B_ETL_CONFIG: fine });
    expect(status.code, status.stderr).toBe(0);
  });

  it('consume with a SASL mechanism and no credentials in the environment is a configuration error', async () => {
    const config = configFile('sasl-no-env.json', { kafka: { sasl: { mechanism: 'plain' } } });
    const result = await runCli(['consume', '--source', 'store_b_events'], db.url, { B2B_ETL_CONFIG: config, KAFKA_SASL_USERNAME: '', KAFKA_SASL_PASSWORD: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('kafka.sasl.mechanism is plain: set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD in the environment');
  });
});
