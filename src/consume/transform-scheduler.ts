import type pg from 'pg';
import { runTransform } from '../transform/run.js';

export interface SchedulerOptions {
  /** Quiet time after the last landing before the transform runs. */
  debounceMs: number;
  /** Longest a landing waits for the transform while landings keep coming. */
  maxWaitMs: number;
  log: (line: string) => void;
  onRun?: (seconds: number) => void;
}

/**
 * Runs the incremental transform after landings, debounced: one run at a time, started
 * after `debounceMs` of quiet or `maxWaitMs` after the first landing it serves, whichever
 * comes first; landings during a run get one more run after it.
 */
export class TransformScheduler {
  private timer: NodeJS.Timeout | null = null;
  private firstPending: number | null = null;
  private running: Promise<void> | null = null;
  private failures = 0;

  constructor(private readonly pool: pg.Pool, private readonly o: SchedulerOptions) {}

  touch(): void {
    const now = Date.now();
    this.firstPending ??= now;
    if (this.running) return; // the run's end reschedules
    this.arm(now);
  }

  /** Waits for a run in progress and runs once more if anything is still owed. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    if (this.firstPending !== null) await this.run();
  }

  private arm(now: number): void {
    if (this.timer) clearTimeout(this.timer);
    const due = Math.min(now + this.o.debounceMs, this.firstPending! + this.o.maxWaitMs);
    this.timer = setTimeout(() => void this.run(), Math.max(due - now, 0));
  }

  private run(): Promise<void> {
    this.timer = null;
    this.firstPending = null;
    this.running = (async () => {
      try {
        const result = await runTransform(this.pool);
        this.failures = 0;
        this.o.onRun?.(result.seconds);
      } catch (e) {
        // the landed batches stay pending: try again later, backing off
        this.failures += 1;
        const wait = Math.min(this.failures * 5, 60);
        this.o.log(`transform failed (${(e as Error).message}); trying again in ${wait}s`);
        this.firstPending ??= Date.now();
        this.running = null;
        this.timer = setTimeout(() => void this.run(), wait * 1000);
        return;
      }
      this.running = null;
      if (this.firstPending !== null) this.arm(Date.now());
    })();
    return this.running;
  }
}
