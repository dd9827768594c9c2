/**
 * The create and worker-group forms: their values turned into request
 * bodies (or the errors to show at each field), template options turned
 * into values, and server field names mapped back onto inputs.  Pure.
 */
import { DEFAULT_WORKER_GROUP } from './contract.generated';
import {
  ICreateClusterRequest,
  ICreateFormValues,
  IFieldError,
  IResourceFormValues,
  IResources,
  IWorkerGroupFormValues,
  IWorkerGroupRequest
} from './types';
import {
  parseEnv,
  parseWorkers,
  validateClusterName,
  validateGroupName,
  validateNamespace,
  validateQuantity
} from './validation';

/** The resource inputs and the server field each one stands for. */
const RESOURCE_FIELDS: ReadonlyArray<[keyof IResourceFormValues, string]> = [
  ['cpuRequest', 'resources.requests.cpu'],
  ['memoryRequest', 'resources.requests.memory'],
  ['cpuLimit', 'resources.limits.cpu'],
  ['memoryLimit', 'resources.limits.memory']
];

/** The trimmed resource inputs, their errors, and the `resources` body (if any is set). */
function checkResources(v: IResourceFormValues): { resources?: IResources; errors: IFieldError[] } {
  const errors: IFieldError[] = [];
  const requests: { [k: string]: string } = {};
  const limits: { [k: string]: string } = {};
  for (const [key, field] of RESOURCE_FIELDS) {
    const value = v[key].trim();
    const error = validateQuantity(value, field);
    if (error) errors.push(error);
    if (value) {
      const [, section, resource] = field.split('.');
      (section === 'requests' ? requests : limits)[resource] = value;
    }
  }
  const out: IResources = {};
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return { resources: Object.keys(out).length ? out : undefined, errors };
}

/** Turn the create form into the POST body, or the errors to show. */
export function buildCreateRequest(v: ICreateFormValues): {
  request: ICreateClusterRequest;
  errors: IFieldError[];
} {
  const errors: IFieldError[] = [];
  const request: ICreateClusterRequest = {};
  const name = v.name.trim();
  const namespace = v.namespace.trim();
  const push = (e: IFieldError | null | undefined) => e && errors.push(e);
  push(validateClusterName(name, 'name'));
  push(validateNamespace(namespace, 'namespace'));
  if (name) request.name = name;
  if (namespace) request.namespace = namespace;
  if (v.template) request.template = v.template;
  if (v.image.trim()) request.image = v.image.trim();
  const workers = parseWorkers(v.workers);
  push(workers.error);
  if (workers.n !== undefined) request.n_workers = workers.n;
  const resources = checkResources(v);
  errors.push(...resources.errors);
  if (resources.resources) request.resources = resources.resources;
  const env = parseEnv(v.env);
  if (env.error) {
    errors.push({ field: 'env', message: env.error });
  } else if (Object.keys(env.env).length) {
    request.env = env.env;
  }
  return { request, errors };
}

/**
 * Turn the worker-group form into the POST body, or the errors to show.
 * With `cluster`, the name is also checked to fit in `<cluster>-<group>`.
 */
export function buildWorkerGroupRequest(
  v: IWorkerGroupFormValues,
  cluster?: string
): {
  request: IWorkerGroupRequest;
  errors: IFieldError[];
} {
  const errors: IFieldError[] = [];
  const name = v.name.trim();
  const nameError = validateGroupName(name, cluster, 'name');
  if (nameError) errors.push(nameError);
  if (name === DEFAULT_WORKER_GROUP) {
    errors.push({ field: 'name', message: `"${name}" is the cluster's own group: choose another name` });
  }
  const w = parseWorkers(v.workers, 'n_workers');
  if (w.error) errors.push(w.error);
  const request: IWorkerGroupRequest = { name, n_workers: w.n ?? 1 };
  if (v.image.trim()) request.image = v.image.trim();
  const resources = checkResources(v);
  errors.push(...resources.errors);
  if (resources.resources) request.resources = resources.resources;
  return { request, errors };
}

/** Form values filled from a template's options (keys the form knows). */
export function formValuesFromOptions(
  base: ICreateFormValues,
  options: { [key: string]: any } | undefined
): ICreateFormValues {
  const o = options || {};
  const res = (o.resources || {}) as IResources;
  const str = (x: unknown, fallback: string) =>
    x === undefined || x === null ? fallback : String(x);
  const env = o.env && typeof o.env === 'object'
    ? Object.entries(o.env as Record<string, unknown>).map(([k, x]) => `${k}=${x}`).join('\n')
    : base.env;
  return {
    ...base,
    image: str(o.image, base.image),
    workers: str(o.n_workers, base.workers),
    cpuRequest: str(res.requests?.cpu, base.cpuRequest),
    memoryRequest: str(res.requests?.memory, base.memoryRequest),
    cpuLimit: str(res.limits?.cpu, base.cpuLimit),
    memoryLimit: str(res.limits?.memory, base.memoryLimit),
    env
  };
}

/** Map a server field name (possibly dotted) onto the form input that shows it. */
export function formFieldFor(field: string | undefined): keyof ICreateFormValues | null {
  if (!field) return null;
  const table: { [k: string]: keyof ICreateFormValues } = {
    name: 'name',
    namespace: 'namespace',
    template: 'template',
    image: 'image',
    n_workers: 'workers',
    workers: 'workers',
    env: 'env'
  };
  for (const [key, resourceField] of RESOURCE_FIELDS) table[resourceField] = key;
  if (table[field]) return table[field];
  if (field.startsWith('env')) return 'env';
  if (field.startsWith('resources.limits.m')) return 'memoryLimit';
  if (field.startsWith('resources.limits')) return 'cpuLimit';
  if (field.startsWith('resources.requests.m')) return 'memoryRequest';
  if (field.startsWith('resources')) return 'cpuRequest';
  return null;
}
