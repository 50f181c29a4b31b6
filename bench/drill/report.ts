import type { DrillResult } from './run.js';

/** The drill's figures as lines; returns the number of differences. */
export function printDrill(r: DrillResult, print: (line: string) => void): number {
  const stages = Object.entries(r.byStage).map(([stage, n]) => `${stage} ${n}`).join(', ');
  print(`kills survived: ${r.kills.length} of the worker (${stages}); ${r.files.killed} of a file landing (resumed; ${r.files.runs} land file runs)`);
  print(`the worker lived ${median(r.kills.map((k) => k.lived)).toFixed(1)} s between kills (median); the drill settled after ${r.seconds.drill.toFixed(0)} s, ` +
    `the uninterrupted run after ${r.seconds.reference.toFixed(0)} s; the last worker stopped on SIGTERM with exit code ${r.lastExit}`);
  const failed = (jobs: Record<string, number>) => Object.entries(jobs).map(([task, n]) => `${task} ${n}`).join(', ') || 'none';
  print(`jobs that failed every attempt: drill ${failed(r.jobs.drill.failedJobs)}; uninterrupted ${failed(r.jobs.reference.failedJobs)}`);
  print(`jobs a newer one took the key of while they ran, left with their attempts spent by a kill (status counts them failed): ` +
    `drill ${failed(r.jobs.drill.supersededJobs)}; uninterrupted ${failed(r.jobs.reference.supersededJobs)}`);
  print('entities compared (uninterrupted run / drill / differences):');
  for (const k of r.kinds) print(`  ${k.kind.padEnd(20)} ${String(k.reference).padStart(8)} ${String(k.drill).padStart(8)} ${String(k.differences).padStart(6)}`);
  const total = r.kinds.reduce((n, k) => n + k.reference, 0);
  print(`differences: ${r.differences.length} in ${total} entities compared (target 0)`);
  for (const d of r.differences.slice(0, 20)) print(`  ${d.kind}: ${d.key}: ${d.what}: ${d.detail}`);
  if (r.differences.length > 20) print(`  ... and ${r.differences.length - 20} more`);
  return r.differences.length;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)]! : 0;
}
