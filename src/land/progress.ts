/**
 * Progress of a long run: records, rate, share of the input read and time left. On a
 * terminal one line is redrawn; otherwise a plain log line every few seconds.
 */
export class Progress {
  private readonly started = Date.now();
  private lastPrint = 0;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly totalBytes: number | null,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
    /** What totalBytes counts: bytes of a file, or (estimated) rows of a table. */
    private readonly unit: 'bytes' | 'rows' = 'bytes',
  ) {
    this.tty = Boolean(out.isTTY);
  }

  update(records: number, bytesRead: number, force = false): void {
    if (this.quiet) return;
    const now = Date.now();
    if (!force && now - this.lastPrint < (this.tty ? 250 : 5000)) return;
    this.lastPrint = now;
    const line = this.describe(records, bytesRead, now);
    if (this.tty) this.out.write(`\r${line}\x1b[K`);
    else this.out.write(`${line}\n`);
  }

  done(summary: string): void {
    if (this.quiet) return;
    if (this.tty) this.out.write('\r\x1b[K');
    this.out.write(`${this.label}: ${summary}\n`);
  }

  elapsedSeconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  private describe(records: number, bytesRead: number, now: number): string {
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    const rate = records / seconds;
    let share = '';
    if (this.totalBytes && this.totalBytes > 0) {
      const fraction = Math.min(bytesRead / this.totalBytes, 1);
      const left = fraction > 0 ? (seconds / fraction) * (1 - fraction) : NaN;
      const total = this.unit === 'bytes' ? formatBytes(this.totalBytes) : `~${formatCount(this.totalBytes)} rows`;
      share = `, ${(fraction * 100).toFixed(1)}% of ${total}` +
        (Number.isFinite(left) ? `, ${formatDuration(left)} left` : '');
    }
    return `${this.label}: ${formatCount(records)} records, ${formatCount(Math.round(rate))}/s${share}`;
  }
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US').replaceAll(',', ' ');
}

export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  if (seconds >= 2 * 86400) return `${(seconds / 86400).toFixed(1)} days`;
  if (seconds >= 3570) {
    const minutes = Math.round(seconds / 60);
    return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
  }
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}
