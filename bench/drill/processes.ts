import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../../src/db/paths.js';

/** The CLI as this code runs: compiled (dist/src/cli.js) when the drill itself runs from dist, else through tsx. */
const CLI = fileURLToPath(import.meta.url).includes('/dist/') ? ['dist/src/cli.js'] : ['--import', 'tsx', 'src/cli.ts'];

/** A b2b-etl command in a process of its own, started as a user starts it; its output goes to `logFile`. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private tail = '';

  constructor(readonly args: string[], env: Record<string, string>, private readonly logFile: string, label: string) {
    this.child = spawn(process.execPath, [...CLI, ...args], {
      cwd: projectRoot(),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const note = (d: Buffer) => {
      const text = d.toString();
      this.tail = (this.tail + text).slice(-4000);
      appendFileSync(this.logFile, text.split('\n').filter(Boolean).map((line) => `${new Date().toISOString().slice(11, 23)} ${label} [${this.child.pid}] ${line}\n`).join(''));
    };
    this.child.stdout!.on('data', note);
    this.child.stderr!.on('data', note);
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last few thousand characters it wrote. */
  output(): string {
    return this.tail;
  }

  /** SIGKILL: no handler runs, nothing is finished or released. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, and its exit code. */
  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return (await this.exited).code;
  }
}

/** Waits until the worker process `worker` has recorded its job pools (it takes jobs from then on). */
export async function workerReady(pool: pg.Pool, worker: CliProcess, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (!worker.running) throw new Error(`the worker (pid ${worker.pid}) exited before it took jobs: ${worker.output()}`);
    const { rows } = await pool.query(`select from etl.worker_process where pid = $1 and cardinality(worker_ids) > 0`, [worker.pid]);
    if (rows.length > 0) return;
    await sleep(50);
  }
  throw new Error(`the worker (pid ${worker.pid}) took no jobs within ${seconds}s: ${worker.output()}`);
}
