/** Values shared by the unit tests. */
import { ICluster, ICreateFormValues } from '../types';

export function cluster(over: Partial<ICluster> = {}): ICluster {
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

export const FORM: ICreateFormValues = {
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
