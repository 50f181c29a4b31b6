import { Kafka, logLevel, type Consumer, type EachBatchPayload, type LogEntry } from 'kafkajs';
import type pg from 'pg';
import type { KafkaConnection, KafkaSourceConfig } from '../config.js';
import { formatCount } from './progress.js';
import { ChangeTimeReader } from './change-time.js';
import { assertMappedSource } from './sources.js';
import { RecordBatch } from './staging-writer.js';
import { EarlierLandingFailed, LandingPipeline, TooManyBadRecords, type BadRecordPolicy, type Landing } from './pipeline.js';
import type { TransformTiming } from '../jobs/chain.js';
import { copyField, copyInto } from '../db/copy.js';
import { readMessage, type EventSettings } from './kafka-messages.js';
import { runTransformJobs } from '../jobs/worker.js';
import type { Entity } from './record.js';

/** What store B's events change: each fetch lands one batch per entity it holds. */
const ENTITIES: readonly Entity[] = ['company', 'contact', 'order'];

export interface ConsumeOptions {
  brokers: string[];
  /** TLS and SASL for a managed cluster (the config's kafka section and the environment). */
  connection?: KafkaConnection;
  /** The configured source name (e.g. store_b_events). */
  source: string;
  config: KafkaSourceConfig;
  /**
   * Run the transform jobs the landings queue in this process (default; false: land only, a
   * worker runs them).
   */
  transform?: boolean;
  clientId?: string;
  log?: (line: string) => void;
  /** Seconds between progress lines; 0 for none. */
  progressSeconds?: number;
  /** What to do with messages that cannot land as they are (default: land them raw and rejected, never stop). */
  badRecords?: BadRecordPolicy;
}

export interface ConsumeStats {
  /** Messages this consumer landed. */
  messages: number;
  /** New record versions they made (a message repeating a version lands none). */
  landed: number;
  unparseable: number;
  cp1251: number;
  /** Messages handed to this consumer that were landed before it saw them (an earlier run, another member); each counted once. */
  skipped: number;
  batches: number;
  transforms: number;
}

/**
 * Store B's live changes from Kafka into staging, through the landing pipeline. Each fetched
 * batch (one partition) is encoded as it arrives and handed over; the pipeline lands it, with
 * the partition's next offset, in one PostgreSQL transaction while the next fetch is read,
 * committing each partition's landings in order; only then is the offset committed to Kafka.
 * On every assignment the consumer seeks to the offsets PostgreSQL holds, and a landing whose
 * first messages PostgreSQL already holds (two members overlapping in a rebalance) is landed
 * again without them, so a crash between the two commits neither loses nor doubles a message.
 */
export class KafkaConsumer {
  readonly stats: ConsumeStats = { messages: 0, landed: 0, unparseable: 0, cp1251: 0, skipped: 0, batches: 0, transforms: 0 };
  private readonly kafka: Kafka;
  private readonly consumer: Consumer;
  private readonly landedUpTo = new Map<number, bigint>();
  /**
   * Per partition, the offset after the last message counted. Kafka hands a message again
   * after a seek or a rebalance; one this consumer counted already is not counted twice.
   */
  private readonly countedUpTo = new Map<number, bigint>();
  private transformer: { stop(): Promise<void> } | null = null;
  private readonly log: (line: string) => void;
  private readonly events: EventSettings;
  private progressTimer: NodeJS.Timeout | null = null;
  private readonly started = Date.now();
  private stopping: Promise<void> | null = null;
  /** Why the consumer stopped by itself (its bad-record policy); `finished` rejects with it. */
  private failure: Error | null = null;
  private crashed: ((e: Error) => void) | null = null;
  /** Until the first connect succeeds, kafkajs' retry chatter is one line; start() says the rest. */
  private connecting: 'quiet' | 'said' | null = 'quiet';
  /** The transform a landing queues: the source's debounce and longest wait. */
  private readonly transformTiming: TransformTiming;
  private readonly pipeline: LandingPipeline;
  /** Per partition, how often its landings failed and it was read again: the lane of its landings. */
  private readonly generation = new Map<number, number>();
  /** Resolves when the consumer has stopped: after stop(), or rejects when it crashed. */
  readonly finished: Promise<void>;
  private finish!: () => void;

  constructor(private readonly pool: pg.Pool, private readonly o: ConsumeOptions) {
    this.log = o.log ?? (() => {});
    this.transformTiming = { debounceMs: o.config.transformDebounceMs, maxWaitMs: o.config.transformMaxWaitMs };
    this.pipeline = new LandingPipeline(pool, {
      badRecords: o.badRecords ?? { max: Infinity, setting: `sources.${o.source}.maxBadRecords` },
      inFlight: Math.max(3, o.config.partitionsInParallel + 1),
      transform: this.transformTiming,
    });
    this.events = {
      fallbackEncoding: o.config.fallbackEncoding,
      times: new ChangeTimeReader({ format: o.config.updatedFormat, timezone: o.config.timezone }),
      setting: `sources.${o.source}.kafka (updatedFormat ${o.config.updatedFormat}, timezone ${o.config.timezone})`,
    };
    this.kafka = new Kafka({
      clientId: o.clientId ?? `b2b-etl-${o.source}`,
      brokers: o.brokers,
      ...o.connection,
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => this.kafkaLog(entry),
      retry: { retries: 8, initialRetryTime: 200 },
    });
    this.consumer = this.kafka.consumer({
      groupId: o.config.groupId,
      maxWaitTimeInMs: 100,
      maxBytes: 16 << 20,
      maxBytesPerPartition: o.config.fetchMaxBytesPerPartition,
      // a member killed without leaving holds its partitions this long: short, so a restarted
      // worker takes them back within seconds (the broker's group.min.session.timeout.ms is 6 s)
      sessionTimeout: 10_000,
      // a mistyped topic is an error, never a new empty topic on the broker
      allowAutoTopicCreation: false,
      heartbeatInterval: 3_000,
    });
    this.finished = new Promise<void>((resolve, reject) => {
      this.finish = resolve;
      this.crashed = reject;
    });
    this.finished.catch(() => {});
  }

  async start(): Promise<void> {
    const { topic, recordSource } = this.o.config;
    // events land under the store's name: the transform must map it, or they would be ignored
    for (const entity of ENTITIES) await assertMappedSource(this.pool, recordSource, entity);
    try {
      await this.consumer.connect();
      this.connecting = null;
    } catch (e) {
      throw new Error(`cannot connect to Kafka at ${this.o.brokers.join(',')} (KAFKA_BROKERS${this.o.connection?.sasl ? ', KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD' : ''}): ` +
        `${kafkaReason(e)}; nothing was consumed`);
    }
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      const partitions = event.payload.memberAssignment[topic] ?? [];
      this.seekToStoredOffsets(partitions).catch((e: Error) => this.log(`${this.o.source}: could not seek to stored offsets: ${e.message}`));
    });
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      const error = event.payload.error;
      if (!event.payload.restart) this.crashed?.(new Error(`Kafka consumer stopped: ${error.message}`));
    });
    try {
      await this.consumer.subscribe({ topics: [topic], fromBeginning: true });
    } catch (e) {
      await this.consumer.disconnect().catch(() => {});
      const missing = /does not host this topic-partition|UNKNOWN_TOPIC/i.test(`${(e as Error).message} ${(e as { type?: string }).type ?? ''}`);
      throw new Error(missing
        ? `topic ${topic} does not exist on ${this.o.brokers.join(',')} (KAFKA_BROKERS; the topic: sources.${this.o.source}.kafka.topic or --topic); nothing was consumed`
        : `cannot subscribe to ${topic} on ${this.o.brokers.join(',')} (KAFKA_BROKERS): ${kafkaReason(e)}; nothing was consumed`);
    }
    if (this.o.transform !== false) {
      this.transformer = await runTransformJobs(this.pool, this.log, () => { this.stats.transforms += 1; });
    }
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // partitions land in parallel, each in its own transaction
      partitionsConsumedConcurrently: this.o.config.partitionsInParallel,
      eachBatch: (payload) => this.landFetch(payload),
    });
    if (this.o.progressSeconds) {
      this.progressTimer = setInterval(() => this.log(this.describe()), this.o.progressSeconds * 1000);
      this.progressTimer.unref();
    }
  }

  /**
   * Finishes the batch in flight (its offsets are stored with it), leaves the group, runs
   * the transform still owed, and resolves `finished`.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.progressTimer) clearInterval(this.progressTimer);
      await this.consumer.disconnect();
      // the landings handed over before the group was left commit (their offsets with them)
      await this.pipeline.finish().catch((e: Error) => this.log(`${this.o.source}: the last landing failed (${e.message}); its messages are consumed again at the next start`));
      await this.transformer?.stop();
      // a consumer its policy stopped ends in that failure, once everything is shut
      if (this.failure) this.crashed?.(this.failure);
      else this.finish();
    })();
    return this.stopping;
  }

  /**
   * How far each partition of the topic is behind: its end (the broker's high watermark) less
   * the next offset PostgreSQL holds for this group. Partitions this group never landed count
   * from their start.
   */
  async lag(): Promise<Array<{ topic: string; partition: number; group: string; lag: number }>> {
    const { topic, groupId } = this.o.config;
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(topic);
      const { rows } = await this.pool.query<{ partition: number; next_offset: string }>(
        'select partition, next_offset from etl.kafka_offset where group_id = $1 and topic = $2', [groupId, topic]);
      const next = new Map(rows.map((r) => [r.partition, BigInt(r.next_offset)]));
      return ends.map((e) => ({
        topic, partition: e.partition, group: groupId,
        lag: Number(BigInt(e.high) - (next.get(e.partition) ?? BigInt(e.low))),
      }));
    } finally {
      await admin.disconnect();
    }
  }

  describe(): string {
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001);
    const s = this.stats;
    return `${this.o.source}: ${formatCount(s.messages)} messages, ${formatCount(s.landed)} new versions, ` +
      `${formatCount(s.unparseable)} unparseable, ${formatCount(s.cp1251)} in cp1251, ${formatCount(s.skipped)} already landed, ` +
      `${formatCount(Math.round(s.messages / seconds))}/s, ${s.transforms} transform runs`;
  }

  /**
   * Where PostgreSQL says each partition continues (the partition's start when it has no
   * row). Kafka already fetches from the group's committed offset (the partition's start for
   * a new group): a partition is sought only when that differs, since a seek throws away the
   * fetch in flight and has it fetched again.
   */
  private async seekToStoredOffsets(partitions: number[]): Promise<void> {
    if (partitions.length === 0) return;
    const { topic, groupId } = this.o.config;
    const { rows } = await this.pool.query<{ partition: number; next_offset: string }>(
      `select partition, next_offset from etl.kafka_offset where group_id = $1 and topic = $2 and partition = any($3)`,
      [groupId, topic, partitions],
    );
    const stored = new Map(rows.map((r) => [r.partition, BigInt(r.next_offset)]));
    const admin = this.kafka.admin();
    await admin.connect();
    let low: Map<number, bigint>;
    let committed: Map<number, bigint>;
    try {
      low = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.low)]));
      const [group] = await admin.fetchOffsets({ groupId, topics: [topic] });
      committed = new Map((group?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    } finally {
      await admin.disconnect();
    }
    for (const partition of partitions) {
      const start = low.get(partition) ?? 0n;
      const target = stored.get(partition) ?? start;
      const kafkaFrom = (committed.get(partition) ?? -1n) >= 0n ? committed.get(partition)! : start;
      // a fetch may have landed while the offsets were read: never go back behind it
      const landed = this.landedUpTo.get(partition);
      const next = landed !== undefined && landed > target ? landed : target;
      this.landedUpTo.set(partition, next);
      if (next !== kafkaFrom) this.consumer.seek({ topic, partition, offset: next.toString() });
    }
  }

  private async landFetch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (!isRunning() || isStale() || batch.messages.length === 0) return;
    const { topic, partition } = batch;
    // cheap first cut from what this member knows; the partition's row in PostgreSQL decides
    const floor = this.landedUpTo.get(partition) ?? -1n;
    const fresh = batch.messages.filter((m) => BigInt(m.offset) >= floor);
    const lastOffset = BigInt(batch.lastOffset());
    const counted = this.countedUpTo.get(partition) ?? -1n;
    const firstSeen = batch.messages.filter((m) => BigInt(m.offset) >= counted).length;
    if (lastOffset + 1n > counted) this.countedUpTo.set(partition, lastOffset + 1n);
    this.stats.skipped += firstSeen - Math.min(firstSeen, fresh.length);
    if (fresh.length > 0) {
      await this.pipeline.ready();
      const first = BigInt(fresh[0]!.offset);
      const lane = `${partition}#${this.generation.get(partition) ?? 0}`;
      this.pipeline.land(this.landing(topic, partition, lane, fresh, firstSeen >= fresh.length))
        .catch((e: unknown) => this.landingFailed(e, topic, partition, first));
    }
    this.landedUpTo.set(partition, lastOffset + 1n);
    resolveOffset(lastOffset.toString());
    await heartbeat();
  }

  /**
   * A fetch's messages as a landing: staging records by entity and their provenance, with
   * the partition's next offset as its position. `counting`: its messages are new to this
   * member's counters (those PostgreSQL already held count as skipped).
   */
  /**
   * A landing that did not commit. Too many bad records stop the consumer, as its policy
   * says. Anything else (PostgreSQL went away) is said, and the partition is read again from
   * the landing's first message a second later, in a new lane: the landings after it in the
   * old lane fail with it, and are read again too.
   */
  private landingFailed(e: unknown, topic: string, partition: number, first: bigint): void {
    if (e instanceof EarlierLandingFailed) return;
    if (this.stopping) return;
    if (e instanceof TooManyBadRecords) {
      this.log(`${this.o.source}: ${e.message}; the consumer stops`);
      this.failure = e;
      void this.stop();
      return;
    }
    this.log(`${this.o.source}: landing ${topic}/${partition} from offset ${first} failed (${(e as Error).message}); reading it again from there`);
    this.generation.set(partition, (this.generation.get(partition) ?? 0) + 1);
    const again = setTimeout(() => {
      if (this.stopping) return;
      this.landedUpTo.set(partition, first);
      this.countedUpTo.set(partition, first);
      try {
        this.consumer.seek({ topic, partition, offset: first.toString() });
      } catch (error) {
        this.log(`${this.o.source}: could not seek ${topic}/${partition} back to ${first} (${(error as Error).message}); it is read from PostgreSQL's offset at the next start`);
      }
    }, 1000);
    again.unref();
  }

  private landing(topic: string, partition: number, lane: string, messages: EachBatchPayload['batch']['messages'], counting: boolean): Landing {
    const { groupId, recordSource } = this.o.config;
    const first = BigInt(messages[0]!.offset);
    const last = BigInt(messages[messages.length - 1]!.offset);
    const origin = `kafka:${topic}/${partition}@${first}-${last}`;
    const rows = {
      company: new RecordBatch({ source: recordSource, entity: 'company' }),
      contact: new RecordBatch({ source: recordSource, entity: 'contact' }),
      order: new RecordBatch({ source: recordSource, entity: 'order' }),
    };
    const offsets = { company: [] as string[], contact: [] as string[], order: [] as string[] };
    const provenance: string[] = [];
    const counts = { unparseable: 0, cp1251: 0 };
    const prefix = `${copyField(topic)}\t${partition}\t`;
    for (const message of messages) {
      const read = readMessage({ topic, partition, offset: message.offset, key: message.key ?? null, value: message.value ?? null, timestamp: message.timestamp }, this.events);
      rows[read.entity].addRecord(read.record);
      offsets[read.entity].push(message.offset);
      if (read.problem) counts.unparseable += 1;
      if (read.encoding === 'cp1251' && !read.problem) counts.cp1251 += 1;
      provenance.push(`${prefix}${message.offset}\t${copyField(message.key?.toString('utf8'))}\t${copyField(recordSource)}\t` +
        `${read.entity}\t${copyField(read.record.sourceKey)}\t${new Date(Number(message.timestamp)).toISOString()}\n`);
    }
    const batches = ENTITIES.filter((e) => rows[e].length > 0).map((entity) => ({
      target: { source: recordSource, entity, origin },
      rows: rows[entity],
      locate: (tuple: number) => `Kafka message ${topic}/${partition}/${offsets[entity][tuple - 1]}`,
    }));
    for (const e of ENTITIES) if (rows[e].length === 0) rows[e].release();
    return {
      lane,
      batches,
      position: async (client) => {
        // The partition's offset row, locked: two members overlapping in a rebalance land a
        // message once; whoever comes second lands again without what the first committed.
        await client.query(
          `insert into etl.kafka_offset (group_id, topic, partition, next_offset) values ($1, $2, $3, 0) on conflict do nothing`,
          [groupId, topic, partition]);
        const { rows: [row] } = await client.query<{ next_offset: string }>(
          `select next_offset from etl.kafka_offset where group_id = $1 and topic = $2 and partition = $3 for update`,
          [groupId, topic, partition]);
        const stored = BigInt(row!.next_offset);
        if (stored > first) throw new LandedBefore(stored);
        await copyInto(client, 'copy staging.kafka_message (topic, partition, "offset", message_key, source, entity, source_key, produced_at) from stdin', provenance);
        await client.query(
          `update etl.kafka_offset set next_offset = $4, updated = now() where group_id = $1 and topic = $2 and partition = $3`,
          [groupId, topic, partition, (last + 1n).toString()]);
      },
      redo: (e) => {
        if (!(e instanceof LandedBefore)) return undefined;
        const rest = messages.filter((m) => BigInt(m.offset) >= e.stored);
        if (counting) this.stats.skipped += messages.length - rest.length;
        return rest.length > 0 ? this.landing(topic, partition, lane, rest, counting) : null;
      },
      committed: (landed) => {
        this.stats.messages += messages.length;
        this.stats.unparseable += counts.unparseable + landed.reduce((n, b) => n + b.refused, 0);
        this.stats.cp1251 += counts.cp1251;
        this.stats.landed += landed.reduce((n, b) => n + b.landed, 0);
        this.stats.batches += 1;
        // Kafka's own commit only saves a re-fetch after a restart; PostgreSQL is the record
        this.consumer.commitOffsets([{ topic, partition, offset: (last + 1n).toString() }]).catch((error: Error) =>
          this.log(`${this.o.source}: Kafka offset commit failed (${error.message}); the offsets in PostgreSQL stand`));
      },
    };
  }

  private kafkaLog({ level, log }: LogEntry): void {
    if (level > logLevel.WARN) return;
    if (this.connecting) {
      if (this.connecting === 'quiet') this.log(`kafka: connecting to ${this.o.brokers.join(',')} failed (${log.message}); retrying`);
      this.connecting = 'said';
      return;
    }
    // rebalances and coordinator moves are routine; kafkajs retries them itself
    if (/rebalanc|coordinator is not available|not the correct coordinator|group is rebalancing/i.test(`${log.message} ${String(log.error ?? '')}`)) return;
    this.log(`kafka ${level === logLevel.ERROR ? 'error' : 'warning'}: ${log.message}${log.error ? ` (${String(log.error)})` : ''}`);
  }
}

/** PostgreSQL holds the partition from `stored` on: a landing of messages before it lands the rest again. */
class LandedBefore extends Error {
  constructor(readonly stored: bigint) {
    super(`messages up to offset ${stored} were landed by another member`);
  }
}

/** kafkajs wraps the cause of a failed connect (refused, SASL, TLS) in a retry error: the cause says what happened. */
function kafkaReason(e: unknown): string {
  let error = e as { message?: string; originalError?: unknown; cause?: unknown } | undefined;
  while (error && (error.originalError || error.cause)) error = (error.originalError ?? error.cause) as typeof error;
  return error?.message ?? String(e);
}
