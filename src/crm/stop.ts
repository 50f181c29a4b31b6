import { setTimeout as wait } from 'node:timers/promises';

/**
 * The push was asked to stop (SIGTERM, Ctrl-C) while it waited for the portal's limits or for
 * a lost answer to settle: what it waited to send was not sent.
 */
export class StopRequestedError extends Error {
  readonly notSent = true;

  constructor() {
    super('stopped by a signal');
  }
}

/** Waits `ms`, or until `signal` aborts, which ends the wait at once with StopRequestedError. */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw new StopRequestedError();
  try {
    await wait(ms, undefined, { signal });
  } catch (e) {
    if (signal?.aborted) throw new StopRequestedError();
    throw e;
  }
}
