/**
 * The portal's two limits (bitrix24-api.md section 2): a leaky bucket of requests per client
 * IP, and the per-method operating-time limit of CORE-REST loadlimiter.php.
 */

export interface BucketSettings {
  size: number;
  drainPerSecond: number;
}

export const PLAN_BUCKETS: Record<'standard' | 'enterprise', BucketSettings> = {
  standard: { size: 50, drainPerSecond: 2 },
  enterprise: { size: 250, drainPerSecond: 5 },
};

/**
 * The docs' rule read literally (limits.md): each request adds 1 to a counter, the counter
 * drains `drainPerSecond` a second, and "when the counter exceeds X, the next request is
 * refused". So a request is refused only while the counter (after draining) is above `size`:
 * a burst of size + 1 passes, and a client pacing at the drain rate behind a full bucket has
 * a whole request of slack for the network to bunch two of its requests.
 * Where the docs are silent: refused requests do not count (a client that waits 1/drain
 * seconds after a refusal gets through), and the counter drains continuously, not in
 * one-second steps.
 */
export class LeakyBucket {
  private readonly counters = new Map<string, { level: number; at: number }>();

  constructor(private readonly settings: BucketSettings) {}

  take(client: string, now = Date.now()): boolean {
    const counter = this.counters.get(client) ?? { level: 0, at: now };
    counter.level = Math.max(0, counter.level - ((now - counter.at) / 1000) * this.settings.drainPerSecond);
    counter.at = now;
    this.counters.set(client, counter);
    if (counter.level > this.settings.size) return false;
    counter.level += 1;
    return true;
  }

  level(client: string, now = Date.now()): number {
    const counter = this.counters.get(client);
    if (!counter) return 0;
    return Math.max(0, counter.level - ((now - counter.at) / 1000) * this.settings.drainPerSecond);
  }
}

export interface OperatingSettings {
  /** Seconds of execution a method may accumulate within the window (cloud docs: 480). */
  limitSeconds: number;
  /** The window, kept as 10 buckets (loadlimiter.php: 10 × 60 s). */
  windowSeconds: number;
}

/** Calls that took this long or less are not recorded (loadlimiter.php `minimalFixTime`). */
export const MINIMAL_FIX_SECONDS = 0.1;
const BUCKET_COUNT = 10;

export interface OperatingState {
  operating: number;
  resetAt: number;
}

/** Accumulated execution time per (webhook, method) in 10 buckets; the check runs before each call. */
export class OperatingLimiter {
  private readonly buckets = new Map<string, Array<{ start: number; firstCall: number; seconds: number }>>();

  constructor(private readonly settings: OperatingSettings) {}

  private live(key: string, now: number) {
    const windowMs = this.settings.windowSeconds * 1000;
    const kept = (this.buckets.get(key) ?? []).filter((b) => b.start + windowMs > now);
    this.buckets.set(key, kept);
    return kept;
  }

  state(key: string, now = Date.now()): OperatingState {
    const kept = this.live(key, now);
    const operating = kept.reduce((sum, b) => sum + b.seconds, 0);
    const oldest = kept[0];
    const resetAt = (oldest ? oldest.firstCall : now) + this.settings.windowSeconds * 1000;
    return { operating: Math.round(operating * 10_000) / 10_000, resetAt: Math.ceil(resetAt / 1000) };
  }

  /**
   * True when the method's time exceeds the limit: the call is refused with 429. "Exceeds", as
   * limits.md has it: a method unblocks "when operating no longer exceeds the limit".
   */
  blocked(key: string, now = Date.now()): boolean {
    return this.state(key, now).operating > this.settings.limitSeconds;
  }

  record(key: string, seconds: number, now = Date.now()): void {
    if (seconds <= MINIMAL_FIX_SECONDS) return;
    const bucketMs = (this.settings.windowSeconds * 1000) / BUCKET_COUNT;
    const start = Math.floor(now / bucketMs) * bucketMs;
    const kept = this.live(key, now);
    const last = kept[kept.length - 1];
    if (last && last.start === start) last.seconds += seconds;
    else kept.push({ start, firstCall: now, seconds });
  }
}
