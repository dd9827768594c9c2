import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import {
  applyStreamMessage,
  buildCreateRequest,
  buildWorkerGroupRequest,
  clientCode,
  clusterStage,
  dashboardRoot,
  formFieldFor,
  formatAge,
  formatBytes,
  formValuesFromOptions,
  ICluster,
  ICreateFormValues,
  parseEnv,
  plotsFromJson,
  plotsJsonUrl,
  sortedClusters,
  staleAfter,
  startProgress,
  startStatus,
  validateScale
} from '../logic';

function cluster(over: Partial<ICluster> = {}): ICluster {
  return {
    name: 'demo',
    namespace: 'default',
    phase: 'Running',
    reason: null,
    worker_groups: [{ name: 'default', requested: 2, ready: 2, image: 'img' }],
    workers_requested: 2,
    workers_ready: 2,
    cores: 2,
    memory: 4 * 1024 ** 3,
    adapt: null,
    dashboard_url: '/user/a/dask-k8s/dashboard/default/demo/status',
    scheduler_address: 'tcp://demo-scheduler.default:8786',
    created: '2026-01-01T00:00:00Z',
    ...over
  };
}

const FORM: ICreateFormValues = {
  name: '',
  namespace: '',
  template: '',
  image: '',
  workers: '',
  cpuRequest: '',
  memoryRequest: '',
  cpuLimit: '',
  memoryLimit: '',
  env: ''
};

test('snapshot replaces, updated upserts, deleted removes', () => {
  let m = new Map<string, ICluster>();
  m = applyStreamMessage(m, { type: 'snapshot', clusters: [cluster(), cluster({ name: 'b' })] });
  assert.deepEqual([...m.keys()].sort(), ['default/b', 'default/demo']);
  m = applyStreamMessage(m, { type: 'updated', cluster: cluster({ name: 'b', workers_ready: 1 }) });
  assert.equal(m.get('default/b')!.workers_ready, 1);
  m = applyStreamMessage(m, { type: 'updated', cluster: cluster({ namespace: 'x', name: 'c' }) });
  assert.equal(m.size, 3);
  m = applyStreamMessage(m, { type: 'deleted', namespace: 'default', name: 'demo' });
  assert.deepEqual([...m.keys()].sort(), ['default/b', 'x/c']);
  m = applyStreamMessage(m, { type: 'snapshot', clusters: [] });
  assert.equal(m.size, 0);
});

test('health messages change the stale reason, not the clusters', () => {
  const m = applyStreamMessage(new Map(), { type: 'snapshot', clusters: [cluster()] });
  const health = { type: 'health' as const, stale: 'cannot watch Kubernetes (refused)' };
  assert.equal(applyStreamMessage(m, health), m);
  let stale = staleAfter(null, health);
  assert.equal(stale, 'cannot watch Kubernetes (refused)');
  stale = staleAfter(stale, { type: 'updated', cluster: cluster() });
  assert.equal(stale, 'cannot watch Kubernetes (refused)');
  assert.equal(staleAfter(stale, { type: 'health', stale: null }), null);
  assert.equal(staleAfter(stale, { type: 'snapshot', clusters: [] }), null);
  assert.equal(staleAfter(null, { type: 'snapshot', clusters: [], stale: 'x' }), 'x');
});

test('the reducer does not mutate its input', () => {
  const before = new Map([['default/demo', cluster()]]);
  applyStreamMessage(before, { type: 'deleted', namespace: 'default', name: 'demo' });
  assert.equal(before.size, 1);
});

test('clusters sort by namespace then name', () => {
  const m = new Map<string, ICluster>();
  for (const [ns, n] of [['b', 'a'], ['a', 'z'], ['a', 'b']]) {
    m.set(`${ns}/${n}`, cluster({ namespace: ns, name: n }));
  }
  assert.deepEqual(sortedClusters(m).map(c => `${c.namespace}/${c.name}`), ['a/b', 'a/z', 'b/a']);
});

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

test('env lines parse, and a bad line is named', () => {
  assert.deepEqual(parseEnv('A=1\n\n# c\nB = x=y \n').env, { A: '1', B: 'x=y' });
  assert.match(parseEnv('A=1\nnope').error!, /line 2 "nope"/);
  assert.match(parseEnv('1A=2').error!, /not a valid variable name/);
});

test('the create form builds the POST body the server expects', () => {
  const { request, errors } = buildCreateRequest({
    ...FORM,
    name: ' demo ',
    namespace: 'team-a',
    template: 'small',
    image: 'ghcr.io/dask/dask:latest',
    workers: '3',
    cpuRequest: '500m',
    memoryLimit: '2Gi',
    env: 'EXTRA=1'
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(request, {
    name: 'demo',
    namespace: 'team-a',
    template: 'small',
    image: 'ghcr.io/dask/dask:latest',
    n_workers: 3,
    resources: { requests: { cpu: '500m' }, limits: { memory: '2Gi' } },
    env: { EXTRA: '1' }
  });
  assert.deepEqual(buildCreateRequest(FORM), { request: {}, errors: [] });
});

test('the create form names each bad field', () => {
  const { errors } = buildCreateRequest({
    ...FORM,
    name: 'Bad_Name',
    workers: '-1',
    memoryRequest: 'lots',
    env: 'x'
  });
  assert.deepEqual(
    errors.map(e => e.field),
    ['name', 'n_workers', 'resources.requests.memory', 'env']
  );
  for (const e of errors) {
    assert.notEqual(formFieldFor(e.field), null, e.field);
  }
});

test('server field names map onto form inputs', () => {
  assert.equal(formFieldFor('n_workers'), 'workers');
  assert.equal(formFieldFor('resources.limits.memory'), 'memoryLimit');
  assert.equal(formFieldFor('env.FOO'), 'env');
  assert.equal(formFieldFor('something_else'), null);
  assert.equal(formFieldFor(undefined), null);
});

test('a template fills the form from its options', () => {
  const v = formValuesFromOptions(FORM, {
    n_workers: 4,
    image: 'img:1',
    resources: { requests: { cpu: '1', memory: '1Gi' } },
    env: { A: 'b' }
  });
  assert.equal(v.workers, '4');
  assert.equal(v.image, 'img:1');
  assert.equal(v.cpuRequest, '1');
  assert.equal(v.memoryRequest, '1Gi');
  assert.equal(v.env, 'A=b');
  assert.deepEqual(formValuesFromOptions(FORM, undefined), FORM);
});

test('scale: fixed count, adaptive range, and the errors', () => {
  assert.deepEqual(validateScale({ adaptive: false, workers: '3', minimum: '', maximum: '' }).body, { workers: 3 });
  assert.deepEqual(validateScale({ adaptive: true, workers: '', minimum: '1', maximum: '5' }).body, {
    adapt: { minimum: 1, maximum: 5 }
  });
  assert.equal(validateScale({ adaptive: false, workers: '', minimum: '', maximum: '' }).error!.field, 'workers');
  assert.equal(validateScale({ adaptive: false, workers: '2.5', minimum: '', maximum: '' }).error!.field, 'workers');
  const e = validateScale({ adaptive: true, workers: '', minimum: '6', maximum: '2' }).error!;
  assert.equal(e.field, 'minimum');
  assert.match(e.message, /above maximum/);
});

test('worker group form', () => {
  const ok = buildWorkerGroupRequest({
    name: 'highmem',
    workers: '2',
    image: '',
    cpuRequest: '',
    memoryRequest: '4Gi',
    cpuLimit: '',
    memoryLimit: ''
  });
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.request, { name: 'highmem', n_workers: 2, resources: { requests: { memory: '4Gi' } } });
  const bad = buildWorkerGroupRequest({
    name: 'default',
    workers: 'x',
    image: '',
    cpuRequest: '1 core',
    memoryRequest: '',
    cpuLimit: '',
    memoryLimit: ''
  });
  assert.deepEqual(bad.errors.map(e => e.field), ['name', 'n_workers', 'resources.requests.cpu']);
  assert.equal(buildWorkerGroupRequest({ ...ok.request, name: '', workers: '1', image: '', cpuRequest: '', memoryRequest: '', cpuLimit: '', memoryLimit: '' } as any).errors[0].field, 'name');
});

test('start status says what the cluster waits for', () => {
  assert.equal(startStatus(cluster({ phase: 'Pending', workers_ready: 0 })), 'Starting the scheduler…');
  assert.equal(startStatus(cluster({ phase: 'Running', workers_ready: 1 })), 'Starting workers: 1 of 2 ready');
  assert.equal(startStatus(cluster({ phase: 'Running', workers_ready: 3 })), 'Retiring workers: 3 running, 2 wanted');
  assert.equal(startStatus(cluster()), null);
  assert.equal(startStatus(cluster({ phase: 'Failed', reason: 'x' })), null);
});
