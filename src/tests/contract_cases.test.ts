/**
 * The form accepts and refuses the names and quantities of the shared table
 * (tests/contract_cases.json) that the server and the CRDs are held to too
 * (tests/test_contract_cases.py).
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import { buildCreateRequest, buildWorkerGroupRequest } from '../forms';
import { FORM } from './fixtures';

interface ICase {
  value: string;
  accepted: boolean;
  why: string;
  exceptions?: { [consumer: string]: string };
}

interface ITable {
  cluster_names: { cases: ICase[] };
  worker_group_names: { cluster: string; cases: ICase[] };
  quantities: { cases: ICase[] };
}

/** tests/contract_cases.json, found from wherever the compiled test runs inside the repository. */
function table(): ITable {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const path = join(dir, 'tests', 'contract_cases.json');
    if (existsSync(path)) {
      return JSON.parse(readFileSync(path, 'utf8'));
    }
  }
  throw new Error(`tests/contract_cases.json not found above ${__dirname}`);
}

const TABLE = table();

/** The form's verdict, where the form is not excused from the shared one. */
function expected(c: ICase): boolean {
  return c.exceptions?.form === undefined ? c.accepted : !c.accepted;
}

test('the table has cases of each kind, accepted and refused', () => {
  for (const kind of [TABLE.cluster_names, TABLE.worker_group_names, TABLE.quantities]) {
    assert.ok(kind.cases.some(c => c.accepted));
    assert.ok(kind.cases.some(c => !c.accepted));
  }
});

test('cluster names: the form agrees with the table', () => {
  for (const c of TABLE.cluster_names.cases) {
    const { errors } = buildCreateRequest({ ...FORM, name: c.value });
    const fields = errors.map(e => e.field);
    assert.equal(fields.length === 0, expected(c), `${JSON.stringify(c.value)}: ${c.why} (${fields})`);
    if (!expected(c)) assert.deepEqual(fields, ['name']);
  }
});

test('worker group names: the form agrees with the table', () => {
  const cluster = TABLE.worker_group_names.cluster;
  for (const c of TABLE.worker_group_names.cases) {
    const values = { name: c.value, workers: '1', image: '', cpuRequest: '', memoryRequest: '', cpuLimit: '', memoryLimit: '' };
    const { errors } = buildWorkerGroupRequest(values, cluster);
    assert.equal(errors.length === 0, expected(c), `${JSON.stringify(c.value)}: ${c.why}`);
    if (!expected(c)) assert.deepEqual(errors.map(e => e.field), ['name']);
  }
});

test('quantities: the form agrees with the table, for cpu and memory, requests and limits', () => {
  for (const c of TABLE.quantities.cases) {
    const { request, errors } = buildCreateRequest({ ...FORM, cpuRequest: c.value, memoryLimit: c.value });
    const why = `${JSON.stringify(c.value)}: ${c.why}`;
    if (expected(c)) {
      assert.deepEqual(errors, [], why);
      assert.deepEqual(request.resources, { requests: { cpu: c.value }, limits: { memory: c.value } }, why);
    } else {
      assert.deepEqual(errors.map(e => e.field), ['resources.requests.cpu', 'resources.limits.memory'], why);
    }
  }
});
