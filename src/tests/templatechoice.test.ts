import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { choiceFor, descriptionOf, ITemplateSources, serverTemplateOf, valuesForChoice } from '../templatechoice';
import { FORM } from './fixtures';

const SOURCES: ITemplateSources = {
  server: [
    { name: 'small', description: 'one small worker', options: { n_workers: 1, resources: { limits: { memory: '1Gi' } } } },
    { name: 'mine', description: 'the server one', options: {} }
  ],
  user: [
    { name: 'mine', description: 'shadowed by the server template' },
    { name: 'gpu', description: 'my GPU box', template: 'small', n_workers: 3, env: { A: '1' } }
  ]
};

test('a template name becomes a menu entry, a server template first', () => {
  assert.equal(choiceFor('small', SOURCES), 'server:small');
  assert.equal(choiceFor('mine', SOURCES), 'server:mine');
  assert.equal(choiceFor('gpu', SOURCES), 'user:gpu');
  assert.equal(choiceFor('gone', SOURCES), '');
  assert.equal(choiceFor(undefined, SOURCES), '');
});

test('the server template of an entry: its own, a user template\'s, or none', () => {
  assert.equal(serverTemplateOf('server:small', SOURCES), 'small');
  assert.equal(serverTemplateOf('user:gpu', SOURCES), 'small');
  assert.equal(serverTemplateOf('user:mine', SOURCES), '');
  assert.equal(serverTemplateOf('', SOURCES), '');
  assert.equal(descriptionOf('user:gpu', SOURCES), 'my GPU box');
  assert.equal(descriptionOf('server:mine', SOURCES), 'the server one');
  assert.equal(descriptionOf('', SOURCES), undefined);
});

test('choosing an entry fills the form; what a template leaves out keeps what was typed', () => {
  const typed = { ...FORM, name: 'typed', workers: '2', cpuRequest: '250m' };
  const small = valuesForChoice(typed, 'server:small', SOURCES);
  assert.deepEqual(small, { ...typed, workers: '1', memoryLimit: '1Gi' });
  // a user template: its server template's options, then its own on top
  const gpu = valuesForChoice(typed, 'user:gpu', SOURCES);
  assert.deepEqual(gpu, { ...typed, workers: '3', memoryLimit: '1Gi', env: 'A=1' });
  assert.deepEqual(valuesForChoice(typed, '', SOURCES), typed);
  assert.deepEqual(valuesForChoice(typed, 'user:gone', SOURCES), typed);
});
