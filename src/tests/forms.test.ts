import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { buildCreateRequest, buildWorkerGroupRequest, formFieldFor, formValuesFromOptions } from '../forms';
import { parseEnv, validateScale } from '../validation';
import { FORM } from './fixtures';

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
