/**
 * Faults for tests and drills, each for the next `times` calls (default 1) of `method`
 * (any method when omitted). A fault on a method also fires for a batch that carries it.
 */
export type SandboxFault =
  /** Runs and commits the call, then destroys the socket: the client never learns the outcome. */
  | { kind: 'drop'; method?: string; times?: number }
  /** An HTML page from the gateway instead of JSON; `afterCommit` runs the call first. */
  | { kind: 'html'; status: 502 | 504; method?: string; times?: number; afterCommit?: boolean }
  /** 503 OVERLOAD_LIMIT, the block support puts on a portal. */
  | { kind: 'overload'; method?: string; times?: number }
  /** 401 expired_token. */
  | { kind: 'expired-token'; method?: string; times?: number }
  /** Waits before answering. */
  | { kind: 'latency'; ms: number; method?: string; times?: number };

export const FAULT_KINDS = ['drop', 'html', 'overload', 'expired-token', 'latency'] as const;

export function checkFault(value: unknown): SandboxFault {
  const fault = value as Record<string, unknown>;
  if (typeof fault !== 'object' || fault === null || !FAULT_KINDS.includes(fault.kind as never)) {
    throw new Error(`a fault needs "kind", one of ${FAULT_KINDS.join(', ')}`);
  }
  if (fault.method !== undefined && typeof fault.method !== 'string') throw new Error('a fault\'s "method" must be a string');
  if (fault.times !== undefined && !(Number.isInteger(fault.times) && (fault.times as number) > 0)) throw new Error('a fault\'s "times" must be a positive integer');
  if (fault.kind === 'html' && fault.status !== 502 && fault.status !== 504) throw new Error('an html fault\'s "status" must be 502 or 504');
  if (fault.kind === 'latency' && !(typeof fault.ms === 'number' && fault.ms >= 0)) throw new Error('a latency fault needs "ms" (milliseconds)');
  return fault as unknown as SandboxFault;
}

export const htmlPage = (status: 502 | 504) =>
  `<html>\r\n<head><title>${status} ${status === 502 ? 'Bad Gateway' : 'Gateway Time-out'}</title></head>\r\n<body>\r\n` +
  `<center><h1>${status} ${status === 502 ? 'Bad Gateway' : 'Gateway Time-out'}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;

export class FaultQueue {
  private readonly pending: Array<{ fault: SandboxFault; left: number }> = [];

  add(...faults: SandboxFault[]): void {
    for (const fault of faults) this.pending.push({ fault: checkFault(fault), left: fault.times ?? 1 });
  }

  clear(): void {
    this.pending.length = 0;
  }

  list(): SandboxFault[] {
    return this.pending.map(({ fault, left }) => ({ ...fault, times: left }));
  }

  /** The first pending fault for a call of `method` (carrying `inner` methods if a batch); it is used up. */
  take(method: string, inner: string[] = []): SandboxFault | null {
    const at = this.pending.findIndex(({ fault }) => {
      const wanted = fault.method?.toLowerCase();
      return !wanted || wanted === method || inner.includes(wanted);
    });
    if (at < 0) return null;
    const entry = this.pending[at]!;
    entry.left -= 1;
    if (entry.left <= 0) this.pending.splice(at, 1);
    return entry.fault;
  }
}
