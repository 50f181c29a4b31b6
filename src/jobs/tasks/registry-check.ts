import type { Task } from 'graphile-worker';
import { checkRegistry } from '../../registry/check.js';
import { REGISTRY_FLAG, RegistryPausedError } from '../../registry/pause.js';
import { requestTransform } from '../chain.js';
import type { JobContext } from '../context.js';

export interface RegistryCheckPayload {
  inn: string;
  /** Ask even when a fresh answer is cached (`enrich --refresh-older-than`). */
  force?: boolean;
}

export function assertRegistryCheckPayload(payload: unknown): asserts payload is RegistryCheckPayload {
  const p = payload as Partial<RegistryCheckPayload> | null;
  if (typeof p !== 'object' || p === null || typeof p.inn !== 'string' || !/^\d{10}(\d{2})?$/.test(p.inn)) {
    throw new Error(`registry_check: payload must be {"inn": "<10 or 12 digits>"}, got ${JSON.stringify(payload)}`);
  }
  if (p.force !== undefined && typeof p.force !== 'boolean') throw new Error('registry_check: payload.force must be true or false');
}

/**
 * registry_check: asks the registry about one INN (job key = the INN) and stores the
 * answer; then queues one debounced transform for every answer stored meanwhile. A spent
 * quota puts the check back for when it resets. A refused configuration fails the job with
 * the reason (its attempts and last_error say so) and workers take no registry job until
 * the settings change or the provider is resumed, which makes the held checks due again.
 */
export function registryCheckTask(ctx: JobContext): Task {
  return async (payload, helpers) => {
    assertRegistryCheckPayload(payload);
    const result = await checkRegistry(ctx.pool, ctx.provider, payload.inn, {
      rps: ctx.registry.rps,
      attempts: ctx.registry.attempts,
      backoffMs: ctx.registry.backoffMs,
      force: payload.force,
      log: (line) => helpers.logger.info(line),
    });
    if (result.outcome === 'paused') {
      if (result.kind === 'config' || !result.until) throw new RegistryPausedError(`registry paused: ${result.reason}`);
      await helpers.addJob('registry_check', payload, { jobKey: payload.inn, runAt: result.until, flags: [REGISTRY_FLAG] });
      return;
    }
    if (result.outcome === 'stored') await requestTransform(ctx.pool);
  };
}
