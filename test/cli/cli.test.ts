import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { calendarTime } from '../../src/commands/define.js';
import { main } from '../../src/commands/program.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const NO_STACK = /\n\s+at /;
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Every command and subcommand the README lists. */
const COMMANDS = [
  ['migrate'], ['land'], ['land', 'file'], ['land', 'mysql'], ['consume'], ['transform'], ['worker'], ['enrich'],
  ['registry'], ['registry', 'import'], ['why'], ['status'], ['report'], ['grant'], ['grant', 'analyst'], ['generate'], ['produce'], ['demo'], ['sandbox'],
];

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** main() in this process, for what never reaches a database: help and usage errors. */
async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out.stdout += String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((out.stderr += String(chunk)), true));
  try {
    return { code: await main(args), ...out };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

describe('help and version', () => {
  it('every command and subcommand has help, exit 0', async () => {
    for (const words of COMMANDS) {
      const result = await inProcess([...words, '--help']);
      expect(result.code, words.join(' ')).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Usage: b2b-etl ${words.join(' ')} `));
    }
    // and as a user runs it
    const land = await runCli(['land', 'file', '--help'], db.url);
    expect(land.code).toBe(0);
    for (const option of ['--source', '--entity', '--encoding', '--format', '--path', '--resume', '--batch-size', '--max-errors', '--quiet']) {
      expect(land.stdout).toContain(option);
    }
    const top = await inProcess(['--help']);
    for (const [name] of COMMANDS) expect(top.stdout).toMatch(new RegExp(`\\n  ${name}\\b`));
    expect(top.stdout).toContain('Exit codes: 0 done, 1 failed, 2 wrong usage or configuration');
  });

  it('--version prints the package version', async () => {
    const result = await runCli(['--version'], db.url);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${VERSION}\n`);
  });
});

describe('usage errors: one sentence, exit 2, no stack', () => {
  const cases: Array<[string[], string]> = [
    [['land', 'file', 'x.json', '--source', 'store_b', '--entity', 'companies', '--frobnicate'], "b2b-etl land file: unknown option '--frobnicate'; see b2b-etl land file --help\n"],
    [['land', 'file', 'x.json', '--sorce', 'store_b'], "b2b-etl land file: unknown option '--sorce' (did you mean --source?); see b2b-etl land file --help\n"],
    [['trasform'], "b2b-etl: unknown command 'trasform' (did you mean transform?); see b2b-etl --help\n"],
    [['land', 'file', 'x.json', '--entity', 'companies'], "b2b-etl land file: required option '--source <name>' not specified; see b2b-etl land file --help\n"],
    [['land', 'file', 'x.json', '--source', 's', '--entity', 'people'], "b2b-etl land file: option '--entity <entity>' argument 'people' is invalid. Allowed choices are companies, contacts, orders; see b2b-etl land file --help\n"],
    [['land', 'file', 'x.json', '--source', 's', '--entity', 'companies', '--max-errors', 'many'], "b2b-etl land file: option '--max-errors <n>' argument 'many' is invalid. Expected a whole number, 0 or more; see b2b-etl land file --help\n"],
    [['why'], "b2b-etl why: missing required argument 'subject'; see b2b-etl why --help\n"],
    [['why', ' '], 'b2b-etl: why: give an INN or SOURCE:KEY, e.g. b2b-etl why store_b:B-17\n'],
    [['transform', 'now'], "b2b-etl transform: too many arguments for 'transform'. Expected 0 arguments but got 1; see b2b-etl transform --help\n"],
    [['land', 'mysql', '--source', 'store_a', '--full', '--since', '2024-01-01'], 'b2b-etl: --full reads everything; --since starts an incremental sync elsewhere: give one of them\n'],
  ];
  for (const [args, message] of cases) {
    it(args.join(' '), async () => {
      const result = await inProcess(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(message);
    });
  }

  it('as a user runs it: the process exits 2', async () => {
    const result = await runCli(['land', 'file', 'x.json', '--frobnicate'], db.url);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("b2b-etl land file: unknown option '--frobnicate'; see b2b-etl land file --help\n");
  });

  it('a command group without its subcommand shows its help, exit 2', async () => {
    const result = await inProcess(['land']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Usage: b2b-etl land [options] [command]');
  });
});

describe('commands keep working', () => {
  it('land file with --max-errors, --batch-size and --quiet lands the file, exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'b2b-etl-cli-'));
    const file = join(dir, 'companies.json');
    writeFileSync(file, JSON.stringify([{ id: 'C-1', inn: '7707083893', name: 'ПАО Сбербанк' }, { id: 'C-2', inn: '7736207543', name: 'Яндекс' }]));
    const result = await runCli(['land', 'file', file, '--source', 'store_b', '--entity', 'companies', '--max-errors', '3', '--batch-size', '1', '--quiet'], db.url);
    expect(result.code, result.stderr).toBe(0);
    expect(await db.value(`select count(*) from staging.record where source = 'store_b' and entity = 'company'`)).toBe('2');
  });

  it('why says "nothing is known" with exit 1: it ran and found nothing', async () => {
    const result = await runCli(['why', 'store_b:NO-SUCH-KEY'], db.url);
    expect(result.code).toBe(1);
  });

  it('why names the entity when a source key is both a company and a contact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'b2b-etl-cli-'));
    writeFileSync(join(dir, 'companies.json'), JSON.stringify([{ id: 'K-1', inn: '7707083893', name: 'ПАО Сбербанк', updated: '2030-01-01T00:00:00Z' }]));
    writeFileSync(join(dir, 'contacts.json'), JSON.stringify([{ id: 'K-1', company_id: 'K-1', last_name: 'Иванов', first_name: 'Иван', phone: '+7 495 123-45-67', updated: '2030-01-01T00:00:00Z' }]));
    for (const entity of ['companies', 'contacts']) {
      const landed = await runCli(['land', 'file', join(dir, `${entity}.json`), '--source', 'store_b', '--entity', entity, '--quiet'], db.url);
      expect(landed.code, landed.stderr).toBe(0);
    }
    const result = await runCli(['why', 'store_b:K-1'], db.url);
    expect(result.code, result.stderr).toBe(0);
    const headings = result.stdout.split('\n').filter((line) => line.startsWith('store_b:'));
    expect(headings).toEqual(['store_b:K-1 (company)', 'store_b:K-1 (contact)']);
    const contactPart = result.stdout.slice(result.stdout.indexOf('store_b:K-1 (contact)'));
    expect(contactPart).toMatch(/landed\s+store_b contact version landed/);
    expect(contactPart).not.toMatch(/store_b company version landed/);
  });
});

describe('b2b-etl help', () => {
  it('help asked for is done: exit 0, the help on stdout', async () => {
    const result = await inProcess(['help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: b2b-etl \[options\] \[command\]/);
  });

  it('help for a subcommand shows the subcommand\'s help, however it is asked', async () => {
    for (const args of [['help', 'land', 'file'], ['land', 'help', 'file'], ['land', 'file', '--help']]) {
      const result = await inProcess(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout, args.join(' ')).toMatch(/^Usage: b2b-etl land file \[options\] <file>/);
    }
    expect((await inProcess(['help', 'grant'])).stdout).toMatch(/^Usage: b2b-etl grant /);
  });

  it('help for a command that does not exist names it, exit 2, and shows no help', async () => {
    const cases: Array<[string[], string]> = [
      [['help', 'nonexist'], "b2b-etl: unknown command 'nonexist'; see b2b-etl --help\n"],
      [['help', 'trasform'], "b2b-etl: unknown command 'trasform' (did you mean transform?); see b2b-etl --help\n"],
      [['help', 'land', 'fil'], "b2b-etl land: unknown command 'fil' (did you mean file?); see b2b-etl land --help\n"],
      [['land', 'help', 'nonexist'], "b2b-etl land: unknown command 'nonexist'; see b2b-etl land --help\n"],
      [['help', 'why', 'store_b:B-1'], "b2b-etl: help: why has no subcommand 'store_b:B-1'; see b2b-etl help why\n"],
    ];
    for (const [args, message] of cases) {
      const result = await inProcess(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toBe(message);
      expect(result.stdout).toBe('');
    }
  });
});

describe('b2b-etl sandbox options', () => {
  it('an unknown option is one sentence with a suggestion, exit 2', async () => {
    const result = await inProcess(['sandbox', '--prot', '1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("b2b-etl sandbox: unknown option '--prot' (did you mean --port?); see b2b-etl sandbox --help\n");
  });

  it('bad values are refused naming the option, before anything starts', async () => {
    const cases: Array<[string[], string]> = [
      [['--port', '70000'], "option '--port <n>' argument '70000' is invalid. Expected a port from 0 to 65535 (0: any free one)"],
      [['--drain', '0'], "option '--drain <n>' argument '0' is invalid. Expected a number above 0"],
      [['--secret', 'short'], "option '--secret <s>' argument 'short' is invalid. Expected 8 to 64 letters and digits"],
      [['--batch-charge', 'both'], "option '--batch-charge <method>' argument 'both' is invalid. Allowed choices are inner, batch"],
    ];
    for (const [args, message] of cases) {
      const result = await inProcess(['sandbox', ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toBe(`b2b-etl sandbox: ${message}; see b2b-etl sandbox --help\n`);
    }
  });

  it('its help lists every option the README names', async () => {
    const result = await inProcess(['help', 'sandbox']);
    expect(result.code).toBe(0);
    for (const option of ['--port', '--plan', '--http', '--host', '--schema', '--secret', '--cert-dir', '--bucket-size', '--drain', '--operating-limit',
      '--operating-window', '--command-seconds', '--import-item-seconds', '--batch-charge', '--no-import-right', '--auth-error-status', '--https-required']) {
      expect(result.stdout).toContain(option);
    }
  });
});

describe('settings and arguments that are wrong are usage errors: exit 2, nothing done', () => {
  it('MYSQL_URL that is not a URL, or not a MySQL one, is named without its password', async () => {
    vi.stubEnv('MYSQL_URL', 'not a url');
    try {
      const notUrl = await inProcess(['land', 'mysql', '--source', 'store_a']);
      expect(notUrl.code).toBe(2);
      expect(notUrl.stderr).toMatch(/^b2b-etl: MYSQL_URL is not a URL: give the source replica as mysql:\/\/USER@HOST:3306\/DATABASE/);
      vi.stubEnv('MYSQL_URL', 'postgres://etl:Pg-Secret-55@127.0.0.1:5432/shop');
      const started = Date.now();
      const postgres = await inProcess(['land', 'mysql', '--source', 'store_a']);
      expect(postgres.code).toBe(2);
      expect(postgres.stderr).toMatch(/^b2b-etl: MYSQL_URL is a postgres:\/\/ URL; store A's replica is MySQL or MariaDB/);
      expect(postgres.stderr).not.toContain('Pg-Secret-55');
      expect(Date.now() - started).toBeLessThan(5000); // refused, not tried until a connect timeout
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('KAFKA_BROKERS entries that are not host:port are named, credentials in them never printed', async () => {
    const cases: Array<[string, string]> = [
      ['garbage', "'garbage' is not host:port"],
      ['kafka1:9092,kafka2:99999', "'kafka2:99999' has port 99999, outside 1-65535"],
      ['user:pw@host:9092', 'an entry holds credentials (USER:PASSWORD@): SASL credentials go in KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD'],
      ['SASL_SSL://etl:Kafka-Secret-77@host:9092', 'an entry holds credentials'],
    ];
    try {
      for (const [brokers, problem] of cases) {
        vi.stubEnv('KAFKA_BROKERS', brokers);
        const result = await inProcess(['consume', '--source', 'store_b_events']);
        expect(result.code, brokers).toBe(2);
        expect(result.stderr).toMatch(/^b2b-etl: KAFKA_BROKERS must list the brokers as host:port/);
        expect(result.stderr).toContain(problem);
        expect(result.stderr).not.toMatch(/:pw@|Kafka-Secret-77/);
      }
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('consume and land mysql refuse a source of the other kind, naming the sources of theirs', async () => {
    const consume = await inProcess(['consume', '--source', 'store_b', '--topic', 'hx']);
    expect(consume.code).toBe(2);
    expect(consume.stderr).toBe('b2b-etl: store_b is not a Kafka source: the Kafka sources are store_b_events (built in); ' +
      'another needs its sources.NAME.kafka section in b2b-etl.config.json\n');
    const mysql = await inProcess(['land', 'mysql', '--source', 'store_b_events']);
    expect(mysql.code).toBe(2);
    expect(mysql.stderr).toMatch(/^b2b-etl: store_b_events is not a MySQL source: the MySQL sources are store_a \(built in\)/);
  });

  it('land mysql --since refuses a date that is no day', async () => {
    const result = await inProcess(['land', 'mysql', '--source', 'store_a', '--since', '2026-02-30']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("b2b-etl land mysql: option '--since <date>' argument '2026-02-30' is invalid. There is no such day as 2026-02-30; see b2b-etl land mysql --help\n");
    expect(calendarTime('2024-02-29')).toBe('2024-02-29');
    expect(calendarTime('2026-01-31 23:59:59')).toBe('2026-01-31 23:59:59');
    for (const bad of ['2025-02-29', '2026-13-01', '2026-04-31', '2026-01-01 24:00', '2026-01-01 12:60', '01.02.2026']) {
      expect(() => calendarTime(bad), bad).toThrow();
    }
  });

  it('a source no staging view maps (--source store-b) is a bad argument: exit 2, nothing landed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'b2b-etl-cli-'));
    writeFileSync(join(dir, 'companies.json'), JSON.stringify([{ id: 'U-1', inn: '7707083893' }]));
    const result = await runCli(['land', 'file', join(dir, 'companies.json'), '--source', 'store-b', '--entity', 'companies'], db.url);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^b2b-etl: unknown source 'store-b' for companies: the warehouse maps companies of 'store_a', 'store_b'/);
    expect(await db.value(`select count(*) from staging.record where source = 'store-b'`)).toBe('0');
  });
});

describe('failures: one sentence, exit 1, no stack', () => {
  it('a file that is not there', async () => {
    const result = await runCli(['land', 'file', '/nonexistent/companies.json', '--source', 'store_b', '--entity', 'companies'], db.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^b2b-etl: .*\/nonexistent\/companies\.json/);
    expect(result.stderr).not.toMatch(NO_STACK);
  });
});
