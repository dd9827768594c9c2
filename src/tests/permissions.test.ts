import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { INamespacePermissions, refusalOf, refusals } from '../permissions';

const noDelete: INamespacePermissions = {
  namespace: 'team-a',
  known: true,
  actions: {
    delete: { allowed: false, reason: 'your account may not delete daskclusters in team-a' },
    remove_worker_group: { allowed: false, reason: 'your account may not delete daskworkergroups in team-a' },
    scale: { allowed: true }
  }
};

test('a refused action carries the server reason', () => {
  assert.equal(refusalOf(noDelete, 'delete'), 'your account may not delete daskclusters in team-a');
  assert.equal(refusalOf(noDelete, 'scale'), null);
});

test('unknown permissions refuse nothing (the server decides)', () => {
  assert.equal(refusalOf(null, 'delete'), null);
  assert.equal(refusalOf({ ...noDelete, known: false }, 'delete'), null);
  assert.equal(refusalOf(noDelete, 'logs'), null); // not reported: not refused
});

test('refusals lists each reason once, in order', () => {
  assert.deepEqual(refusals(noDelete, ['scale', 'remove_worker_group', 'delete', 'delete']), [
    'your account may not delete daskworkergroups in team-a',
    'your account may not delete daskclusters in team-a'
  ]);
});

import { describeSkew, versionSkewOf } from '../versions';

test('version skew: lines per mismatch, none when absent', () => {
  const skew = {
    mismatches: [{ package: 'distributed', local: '2026.8.0', remote: '2025.1.0', where: 'workers (default)' }],
    fix: 'use image ghcr.io/dask/dask:2026.8.0-py3.11'
  };
  assert.deepEqual(describeSkew(skew), ['distributed: notebook 2026.8.0, workers (default) 2025.1.0']);
  assert.equal(versionSkewOf({ version_skew: skew }), skew);
  assert.equal(versionSkewOf({ version_skew: null }), null);
  assert.equal(versionSkewOf({}), null);
});
