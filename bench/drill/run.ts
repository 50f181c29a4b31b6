import { setTimeout as sleep } from 'node:timers/promises';
import type { ManifestFile } from '../../src/generate/index.js';
import { Random } from '../../src/generate/random.js';
import { compareRuns, type Difference, type KindComparison } from './compare.js';
import { EventFeed, landFiles, type FileLanding } from './inputs.js';
import { openLane, queueSync, quiet, type Lane, type Quiet, type SharedInputs } from './lane.js';
import { CliProcess, workerReady } from './processes.js';
import { pendingWork, stageSnapshot, STAGES, type Stage } from './stages.js';

export interface DrillOptions extends SharedInputs {
  manifest: ManifestFile[];
  /** The two warehouses (migrated, empty): one for the run under kills, one for the uninterrupted run. */
  drillUrl: string;
  referenceUrl: string;
  /** Times the worker is killed. */
  kills: number;
  /** Times a file landing is killed (and run again with --resume). */
  fileKills: number;
  /** The driver's choices: which stage to aim at, when, how long before a restart. */
  seed: number;
  eventsPerSecond: number;
  /** How long a run may take to settle after its last kill. */
  settleSeconds: number;
  log: (line: string) => void;
}

export interface Kill {
  /** Seconds since the drill began. */
  at: number;
  target: Stage;
  /** What the worker was doing a moment before the signal. */
  hit: Stage[];
  /** How long this worker process had lived, seconds. */
  lived: number;
}

export interface DrillResult {
  kills: Kill[];
  files: FileLanding;
  /** Kills per stage hit (a kill inside two stages at once counts for both); 'between stages' when none. */
  byStage: Record<string, number>;
  kinds: KindComparison[];
  differences: Difference[];
  jobs: { drill: Quiet; reference: Quiet };
  seconds: { drill: number; reference: number };
  /** The last worker's exit code after SIGTERM (0: it stopped cleanly). */
  lastExit: number | null;
}

/**
 * Runs the sample through the pipeline twice at once, into two warehouses and two sandbox
 * portals: once with one worker left alone, once while the worker is killed (SIGKILL) again and
 * again, each time aimed at a stage (a MySQL page, a Kafka batch, a transform, a registry check,
 * a push batch at the portal) and restarted; then compares what both runs hold.
 */
export async function runDrill(o: DrillOptions): Promise<DrillResult> {
  const random = new Random(o.seed);
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const [drill, reference] = [await openLane('drill', o.drillUrl, o), await openLane('reference', o.referenceUrl, o)];
  const workers: CliProcess[] = [];
  try {
    await Promise.all([queueSync(drill.pool), queueSync(reference.pool)]);
    const feed = new EventFeed(o.brokers, o.topic, o.sampleDir, o.eventsPerSecond);
    const filesOf = (lane: Lane, kills: number) => landFiles({
      sampleDir: o.sampleDir, manifest: o.manifest, env: lane.env, logFile: o.logFile, batchSize: o.fileBatchSize,
      kills, random: new Random(o.seed * 31 + kills), label: lane.name,
    });
    const referenceRun = (async () => {
      const worker = new CliProcess(['worker'], reference.env, o.logFile, 'reference worker');
      workers.push(worker);
      await workerReady(reference.pool, worker);
      await filesOf(reference, 0);
      await feed.done;
      await queueSync(reference.pool);
      const settled = await quiet(reference, feed.produced, o.topic, o.settleSeconds + o.kills * 20, () => alive(worker));
      const seconds = elapsed();
      const code = await worker.stop();
      if (code !== 0) throw new Error(`the uninterrupted worker exited ${code} on SIGTERM: ${worker.output()}`);
      return { settled, seconds };
    })();
    const files = filesOf(drill, o.fileKills);
    files.catch(() => {});

    const kills: Kill[] = [];
    // every stage in turn, in a random order; a Kafka batch first, before a killed member holds the group
    const order: Stage[] = [];
    while (order.length < o.kills) order.push(...[...STAGES].sort(() => random.next() - 0.5));
    const kafkaFirst = order.indexOf('kafka batch');
    if (kafkaFirst > 0) [order[0], order[kafkaFirst]] = [order[kafkaFirst]!, order[0]!];
    for (let k = 0; k < o.kills; k++) {
      const worker = new CliProcess(['worker'], drill.env, o.logFile, 'drill worker');
      workers.push(worker);
      const born = Date.now();
      await workerReady(drill.pool, worker);
      const pending = await pendingWork(drill.pool, feed.produced, drill.groupId, o.topic);
      let target = order[k]!;
      if (!pending.has(target)) {
        if (target === 'mysql page') await queueSync(drill.pool);
        else if (pending.size > 0) target = random.pick([...pending]);
        else {
          // nothing else to do: a sync, which always reads pages
          await queueSync(drill.pool);
          target = 'mysql page';
        }
      }
      const hit = await aim(drill, worker, target, random);
      kills.push({ at: elapsed(), target, hit, lived: (Date.now() - born) / 1000 });
      o.log(`kill ${k + 1}/${o.kills} at ${elapsed().toFixed(1)}s aimed at ${target}: hit ${hit.length ? hit.join(', ') : 'between stages'}`);
      await sleep(random.int(0, 400));
    }

    const worker = new CliProcess(['worker'], drill.env, o.logFile, 'drill worker');
    workers.push(worker);
    await workerReady(drill.pool, worker);
    const landed = await files;
    await feed.done;
    await queueSync(drill.pool);
    const settled = await quiet(drill, feed.produced, o.topic, o.settleSeconds, () => alive(worker));
    const drillSeconds = elapsed();
    const lastExit = await worker.stop();
    const ref = await referenceRun;
    o.log(`both runs settled (the drill's after ${drillSeconds.toFixed(0)}s, the uninterrupted one's after ${ref.seconds.toFixed(0)}s); comparing`);
    const { kinds, differences } = await compareRuns(reference.pool, drill.pool);
    const byStage: Record<string, number> = Object.fromEntries([...STAGES, 'between stages'].map((s) => [s, 0]));
    for (const kill of kills) for (const stage of kill.hit.length ? kill.hit : ['between stages']) byStage[stage]! += 1;
    return {
      kills, files: landed, byStage, kinds, differences,
      jobs: { drill: settled, reference: ref.settled },
      seconds: { drill: drillSeconds, reference: ref.seconds }, lastExit,
    };
  } finally {
    for (const w of workers) if (w.running) await w.kill();
    await drill.close();
    await reference.close();
  }
}

function alive(worker: CliProcess): void {
  if (!worker.running) throw new Error(`the worker (pid ${worker.pid}) exited by itself: ${worker.output()}`);
}

/**
 * Waits until the worker is inside `target` (polling what it does every 20 ms, up to 15 s; 45 s
 * for a Kafka batch, since a new member waits for the killed one's session to end), lets a
 * random moment pass, and kills it. Returns what it was doing just before the signal.
 */
async function aim(lane: Lane, worker: CliProcess, target: Stage, random: Random): Promise<Stage[]> {
  const deadline = Date.now() + (target === 'kafka batch' ? 45_000 : 15_000);
  while (Date.now() < deadline) {
    alive(worker);
    const seen = await stageSnapshot(lane.pool, worker.pid);
    if (seen.stages.includes(target)) {
      await sleep(random.int(0, 60));
      break;
    }
    await sleep(20);
  }
  const last = await stageSnapshot(lane.pool, worker.pid);
  await worker.kill();
  return last.stages;
}
