import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addPlainCommand } from '../../src/commands/define.js';
import { buildProgram, main } from '../../src/commands/program.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const NO_STACK = /\n\s+at /;
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Every command and subcommand the README lists. */
const COMMANDS = [
  ['migrate'], ['land'], ['land', 'file'], ['land', 'mysql'], ['consume'], ['transform'], ['worker'], ['enrich'],
  ['registry'], ['registry', 'import'], ['why'], ['status'], ['grant'], ['grant', 'analyst'], ['generate'], ['demo'],
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
    [['land', 'file', 'x.json', '--source', 's', '--entity', 'people'], "b2b-etl land file: option '--entity <entity>' argument 'people' is invalid. Allowed choices are companies, contacts; see b2b-etl land file --help\n"],
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

describe('plain commands', () => {
  it('a command written as (args) => exit code gets every argument after its name, --help included', async () => {
    const seen: string[][] = [];
    expect(await main(['plain', '--port', '8443', 'extra', '--plan=enterprise'], buildWith(seen))).toBe(0);
    expect(await main(['plain', '--help'], buildWith(seen))).toBe(0);
    expect(await main(['plain', '--fail'], buildWith(seen))).toBe(1);
    expect(seen).toEqual([['--port', '8443', 'extra', '--plan=enterprise'], ['--help'], ['--fail']]);
  });
});

/** The program with a plain command that records what it was given. */
function buildWith(seen: string[][]) {
  const program = buildProgram();
  addPlainCommand(program, 'plain', 'a command that parses its own arguments', async (args) => {
    seen.push(args);
    return args.includes('--fail') ? 1 : 0;
  });
  return program;
}

describe('failures: one sentence, exit 1, no stack', () => {
  it('a file that is not there', async () => {
    const result = await runCli(['land', 'file', '/nonexistent/companies.json', '--source', 'store_b', '--entity', 'companies'], db.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^b2b-etl: .*\/nonexistent\/companies\.json/);
    expect(result.stderr).not.toMatch(NO_STACK);
  });
});
