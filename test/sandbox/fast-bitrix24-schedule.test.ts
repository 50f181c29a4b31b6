import { describe, expect, it } from 'vitest';
import { LeakyBucket, PLAN_BUCKETS } from '../../src/sandbox/limits.js';

/**
 * fast_bitrix24 (leshchenko1979/fast_bitrix24, throttle.py and srh.py; bitrix24-api.md §9) is
 * run against real portals at its defaults: a pool of 50 requests, 2 a second, 50 in flight.
 * Its schedule is replayed here on a virtual clock against the sandbox's own bucket, which
 * must refuse none of it on the standard plan.
 */

/**
 * Its LeakyBucketThrottler: it remembers when its requests were made for pool/rps seconds
 * (25 s); while it remembers `pool` of them, the next request waits until 1/rps after the
 * latest. (The Python prunes after each request; pruning before each wait is the same here.)
 */
class LeakyBucketThrottler {
  private history: number[] = [];

  constructor(private readonly poolSize = 50, private readonly requestsPerSecond = 2) {}

  /** _calculate_needed_sleep_time, in ms. */
  neededSleepMs(now: number): number {
    this.history = this.history.filter((at) => at >= now - (this.poolSize / this.requestsPerSecond) * 1000);
    if (this.history.length < this.poolSize) return 0;
    return Math.max(0, 1000 / this.requestsPerSecond - (now - this.history.at(-1)!));
  }

  addRequestRecord(now: number): void {
    this.history.push(now);
  }
}

/** A repeatable spread of network delays (a linear congruential generator). */
function delays(seed: number, fromMs: number, toMs: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return fromMs + (state / 2147483648) * (toMs - fromMs);
  };
}

/** Plays arrival times (ms) against a standard-plan bucket; returns how many were refused. */
function refusedOf(arrivals: number[]): number {
  const bucket = new LeakyBucket(PLAN_BUCKETS.standard);
  return [...arrivals].sort((a, b) => a - b).filter((at) => !bucket.take('10.0.0.1', at)).length;
}

describe('fast_bitrix24 at its defaults against the standard plan\'s bucket', () => {
  it('gets no 503 for the 51 requests get_all opens with: one to learn the total, then 50 batches at once', () => {
    // it records a request when its answer comes, so the 50 batches see one record and none
    // waits; its in-flight check (`concurrent_requests > mcr_cur_limit`) lets them all go.
    // The docs refuse the request after the counter has exceeded 50, so the 51st passes.
    const network = delays(7, 5, 40);
    const firstAnswerAt = 80;
    const arrivals = [network(), ...Array.from({ length: 50 }, () => firstAnswerAt + network())];
    expect(refusedOf(arrivals)).toBe(0);
  });

  it('gets no 503 when its throttler paces at 2 a second behind a full bucket and the network shortens a gap', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const throttler = new LeakyBucketThrottler();
      // the first 50 go out on fresh connections (slower to arrive), the rest on warm ones
      const fresh = delays(seed, 30, 250);
      const warm = delays(seed + 100, 5, 40);
      const arrivals: number[] = [];
      let now = 0;
      for (let i = 0; i < 300; i++) {
        now += throttler.neededSleepMs(now);
        throttler.addRequestRecord(now);
        arrivals.push(now + (i < 50 ? fresh() : warm()));
      }
      expect(refusedOf(arrivals), `seed ${seed}`).toBe(0);
    }
  });
});
