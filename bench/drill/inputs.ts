import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { eventKey, readEventLines } from '../../src/generate/events.js';
import { STORE_B_EVENTS, type ManifestFile } from '../../src/generate/index.js';
import { CliProcess } from './processes.js';
import type { Random } from '../../src/generate/random.js';

/**
 * Store B's events from the sample, produced into the drill's topic at a steady rate while the
 * runs go on (both runs read the one topic, each in its own consumer group). `produced` holds
 * each partition's end so far.
 */
export class EventFeed {
  readonly produced = new Map<number, bigint>();
  sent = 0;
  readonly total: number;
  readonly done: Promise<void>;
  private readonly lines: Buffer[];

  constructor(private readonly brokers: string[], private readonly topic: string, sampleDir: string, private readonly perSecond: number) {
    this.lines = readEventLines(join(sampleDir, STORE_B_EVENTS));
    this.total = this.lines.length;
    this.done = this.run();
    this.done.catch(() => {});
  }

  private async run(): Promise<void> {
    const kafka = new Kafka({ clientId: 'b2b-etl-drill', brokers: this.brokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    const admin = kafka.admin();
    await producer.connect();
    await admin.connect();
    try {
      const chunk = Math.max(1, Math.round(this.perSecond / 5));
      const started = Date.now();
      for (let i = 0; i < this.lines.length; i += chunk) {
        const values = this.lines.slice(i, i + chunk);
        await producer.send({ topic: this.topic, messages: values.map((value) => ({ key: eventKey(value.toString('latin1')), value })) });
        this.sent += values.length;
        for (const p of await admin.fetchTopicOffsets(this.topic)) this.produced.set(p.partition, BigInt(p.high));
        const wait = started + ((i + chunk) / this.perSecond) * 1000 - Date.now();
        if (wait > 0) await sleep(wait);
      }
    } finally {
      await producer.disconnect();
      await admin.disconnect();
    }
  }
}

export interface FileLanding {
  /** File landings killed (SIGKILL) and run again with --resume. */
  killed: number;
  /** Runs of `land file` in all. */
  runs: number;
}

/**
 * Store B's files landed by `b2b-etl land file --resume` in processes of their own, one file
 * after another, alongside the worker. With `kills` > 0 a landing is killed at a random moment
 * while it runs, up to that many times in all, and run again with --resume, as a person would.
 */
export async function landFiles(o: {
  sampleDir: string;
  manifest: ManifestFile[];
  env: Record<string, string>;
  logFile: string;
  batchSize: number;
  kills: number;
  random: Random;
  label: string;
}): Promise<FileLanding> {
  const result: FileLanding = { killed: 0, runs: 0 };
  for (const file of o.manifest) {
    const args = ['land', 'file', join(o.sampleDir, file.file), '--source', file.source, '--entity', file.entity,
      '--encoding', file.encoding, '--resume', '--batch-size', String(o.batchSize), '--quiet',
      ...(file.jsonPath ? ['--path', file.jsonPath] : [])];
    for (;;) {
      const landing = new CliProcess(args, o.env, o.logFile, `${o.label} land file`);
      result.runs += 1;
      if (result.killed < o.kills && o.random.next() < 0.6) {
        // after start-up (about a second), somewhere in the landing
        const at = 800 + o.random.int(0, 2500);
        const timer = setTimeout(() => { if (landing.running) void landing.kill(); }, at);
        const exit = await landing.exited;
        clearTimeout(timer);
        if (exit.signal === 'SIGKILL') {
          result.killed += 1;
          continue;
        }
        if (exit.code !== 0) throw new Error(`land file ${file.file} exited ${exit.code}: ${landing.output()}`);
        break;
      }
      const exit = await landing.exited;
      if (exit.code !== 0) throw new Error(`land file ${file.file} exited ${exit.code}: ${landing.output()}`);
      break;
    }
  }
  return result;
}
