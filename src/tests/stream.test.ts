import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { applyStreamMessage, sortedClusters, staleAfter } from '../stream';
import { ICluster } from '../types';
import { cluster } from './fixtures';

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
