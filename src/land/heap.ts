import v8 from 'node:v8';
import vm from 'node:vm';

let collect: (() => void) | undefined;

/**
 * V8 lets the heap of a long load grow lazily to several times its live size, so the
 * loader's memory would depend on the garbage it made, not on what it holds. When the used
 * heap (live data and garbage not yet collected) passes `limit` bytes, a full collection
 * brings it back to the live set.
 */
export function holdHeapUnder(limit: number): void {
  if (heldBytes() < limit) return;
  collectGarbage();
}

/** A full collection now. */
export function collectGarbage(): void {
  if (!collect) {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  }
  collect();
}

/**
 * The heap in use plus the buffers' memory outside it (file chunks, COPY data): buffers
 * that are garbage are only freed by a collection, so they count against the same limit.
 */
export function heldBytes(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}
