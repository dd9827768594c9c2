/**
 * What the sidebar says about a cluster: sizes, ages, its stage and start
 * progress, and the notebook code that connects to it.  Pure: runs under
 * plain Node.
 */
import { ICluster } from './types';

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) {
    return '0 B';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value >= 100 || unit === 0 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** Age in kubectl's style: 45s, 12m, 3h, 2d. */
export function formatAge(created: string | null, now: number = Date.now()): string {
  if (!created) {
    return '';
  }
  const then = Date.parse(created);
  if (Number.isNaN(then)) {
    return '';
  }
  const seconds = Math.max(0, Math.floor((now - then) / 1000));
  if (seconds < 120) {
    return `${seconds}s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) {
    return `${minutes}m`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 48) {
    return `${hours}h`;
  }
  return `${Math.floor(hours / 24)}d`;
}

/** Python code that connects a notebook to the cluster. */
export function clientCode(c: { namespace: string; name: string }): string {
  return [
    'from dask_k8s_lab import KubeCluster',
    `cluster = KubeCluster.from_name(${pyString(c.name)}, namespace=${pyString(c.namespace)})`,
    'from dask.distributed import Client',
    'client = Client(cluster)'
  ].join('\n');
}

function pyString(value: string): string {
  return JSON.stringify(value);
}

export type Stage = 'running' | 'starting' | 'stuck' | 'failed' | 'stopping';

/** What to tell the user about a cluster's phase. */
export function clusterStage(c: ICluster): Stage {
  const phase = (c.phase || '').toLowerCase();
  if (phase === 'failed' || phase === 'error') {
    return 'failed';
  }
  if (phase === 'terminating' || phase === 'stopping') {
    return 'stopping';
  }
  if (phase === 'running' && c.workers_ready >= c.workers_requested) {
    return 'running';
  }
  if (c.reason) {
    return 'stuck';
  }
  return phase === 'running' ? 'running' : 'starting';
}

/** Fraction (0..1) of the way to ready: scheduler counts as one step. */
export function startProgress(c: ICluster): number {
  const schedulerUp = (c.phase || '').toLowerCase() === 'running' ? 1 : 0;
  const total = 1 + Math.max(0, c.workers_requested);
  const done = schedulerUp + Math.min(c.workers_ready, c.workers_requested);
  return Math.max(0, Math.min(1, done / total));
}

/** One line telling the user what a starting cluster is waiting for, or null. */
export function startStatus(c: ICluster): string | null {
  const stage = clusterStage(c);
  if (stage === 'failed' || stage === 'stopping') {
    return null;
  }
  if ((c.phase || '').toLowerCase() !== 'running') {
    return 'Starting the scheduler…';
  }
  if (c.workers_ready < c.workers_requested) {
    return `Starting workers: ${c.workers_ready} of ${c.workers_requested} ready`;
  }
  if (c.workers_ready > c.workers_requested) {
    return `Retiring workers: ${c.workers_ready} running, ${c.workers_requested} wanted`;
  }
  return null;
}
