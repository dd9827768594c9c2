import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { clientCode, clusterStage, formatAge, formatBytes, startProgress, startStatus } from '../format';
import { dashboardRoot, plotsFromJson, plotsJsonUrl } from '../plots';
import { cluster } from './fixtures';

test('bytes are shown in binary units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(4 * 1024 ** 3), '4.0 GiB');
  assert.equal(formatBytes(200 * 1024 ** 2), '200 MiB');
});

test('age reads like kubectl', () => {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(formatAge('2026-01-01T00:00:00Z', t0 + 45e3), '45s');
  assert.equal(formatAge('2026-01-01T00:00:00Z', t0 + 10 * 60e3), '10m');
  assert.equal(formatAge('2026-01-01T00:00:00Z', t0 + 5 * 3600e3), '5h');
  assert.equal(formatAge('2026-01-01T00:00:00Z', t0 + 3 * 86400e3), '3d');
  assert.equal(formatAge(null), '');
  assert.equal(formatAge('not a date'), '');
});

test('client code connects by name and namespace', () => {
  assert.equal(
    clientCode({ namespace: 'team-a', name: 'big' }),
    'from dask_k8s_lab import KubeCluster\n' +
      'cluster = KubeCluster.from_name("big", namespace="team-a")\n' +
      'from dask.distributed import Client\n' +
      'client = Client(cluster)'
  );
});

test('stage: running, starting, stuck with reason, failed', () => {
  assert.equal(clusterStage(cluster()), 'running');
  assert.equal(clusterStage(cluster({ phase: 'Pending', workers_ready: 0 })), 'starting');
  assert.equal(clusterStage(cluster({ phase: 'Running', workers_ready: 1 })), 'running');
  assert.equal(clusterStage(cluster({ phase: 'Pending', reason: 'CrashLoopBackOff' })), 'stuck');
  assert.equal(clusterStage(cluster({ phase: 'Failed', reason: 'boom' })), 'failed');
});

test('progress counts the scheduler and each ready worker', () => {
  assert.equal(startProgress(cluster({ phase: 'Pending', workers_ready: 0 })), 0);
  assert.equal(startProgress(cluster({ phase: 'Running', workers_ready: 0 })), 1 / 3);
  assert.equal(startProgress(cluster()), 1);
  assert.equal(startProgress(cluster({ workers_requested: 0, workers_ready: 0 })), 1);
});

test('start status says what the cluster waits for', () => {
  assert.equal(startStatus(cluster({ phase: 'Pending', workers_ready: 0 })), 'Starting the scheduler…');
  assert.equal(startStatus(cluster({ phase: 'Running', workers_ready: 1 })), 'Starting workers: 1 of 2 ready');
  assert.equal(startStatus(cluster({ phase: 'Running', workers_ready: 3 })), 'Retiring workers: 3 running, 2 wanted');
  assert.equal(startStatus(cluster()), null);
  assert.equal(startStatus(cluster({ phase: 'Failed', reason: 'x' })), null);
});

test('plots come from individual-plots.json under the dashboard root', () => {
  const url = '/lab/dask-k8s/dashboard/ns/c/status';
  assert.equal(dashboardRoot(url), '/lab/dask-k8s/dashboard/ns/c/');
  assert.equal(plotsJsonUrl(url), '/lab/dask-k8s/dashboard/ns/c/individual-plots.json');
  assert.equal(plotsJsonUrl('/x/dask-k8s/dashboard/ns/c/'), '/x/dask-k8s/dashboard/ns/c/individual-plots.json');
  const plots = plotsFromJson(url, {
    'Individual Task Stream': '/individual-task-stream',
    'Individual Progress': '/individual-progress',
    bogus: 3
  });
  assert.deepEqual(plots, [
    { label: 'Progress', route: '/lab/dask-k8s/dashboard/ns/c/individual-progress' },
    { label: 'Task Stream', route: '/lab/dask-k8s/dashboard/ns/c/individual-task-stream' }
  ]);
  assert.deepEqual(plotsFromJson(url, null), []);
  assert.deepEqual(plotsFromJson(url, ['a']), []);
});
