/**
 * Pure helpers shared by the widgets: formatting, request building and the
 * stream reducer.  Nothing here touches the DOM or JupyterLab, so the unit
 * tests run them under plain Node.
 */

export interface IWorkerGroupStatus {
  name: string;
  requested: number;
  ready: number;
  image: string | null;
}

export interface IAdaptRange {
  minimum: number;
  maximum: number;
}

export interface ICluster {
  name: string;
  namespace: string;
  phase: string;
  reason: string | null;
  worker_groups: IWorkerGroupStatus[];
  workers_requested: number;
  workers_ready: number;
  cores: number;
  memory: number;
  adapt: IAdaptRange | null;
  dashboard_url: string | null;
  scheduler_address: string | null;
  created: string | null;
  /** Deleted when the Jupyter server that created it stops (an owner reference to its pod). */
  stops_with_server?: boolean;
}

export interface IResources {
  requests?: { [key: string]: string };
  limits?: { [key: string]: string };
}

export interface IWorkerGroupRequest {
  name: string;
  n_workers: number;
  image?: string;
  resources?: IResources;
}

export interface ICreateClusterRequest {
  name?: string;
  namespace?: string;
  template?: string;
  image?: string;
  n_workers?: number;
  resources?: IResources;
  env?: { [key: string]: string };
  worker_groups?: IWorkerGroupRequest[];
}

export type StreamMessage =
  | { type: 'snapshot'; clusters: ICluster[]; stale?: string | null }
  | { type: 'updated'; cluster: ICluster }
  | { type: 'deleted'; namespace: string; name: string }
  | { type: 'health'; stale: string | null };

/** Values as typed into the create form (all strings, as in the DOM). */
export interface ICreateFormValues {
  name: string;
  namespace: string;
  template: string;
  image: string;
  workers: string;
  cpuRequest: string;
  memoryRequest: string;
  cpuLimit: string;
  memoryLimit: string;
  env: string;
}

/** A problem with one form field, named the way the server names it. */
export interface IFieldError {
  field: string;
  message: string;
}

export interface IPlot {
  label: string;
  route: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUANTITY = /^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function clusterKey(c: { namespace: string; name: string }): string {
  return `${c.namespace}/${c.name}`;
}

/** Apply one message of the server's stream to the map of known clusters. */
export function applyStreamMessage(
  clusters: Map<string, ICluster>,
  message: StreamMessage
): Map<string, ICluster> {
  if (message.type === 'health') {
    return clusters;
  }
  const next = new Map(message.type === 'snapshot' ? [] : clusters);
  switch (message.type) {
    case 'snapshot':
      for (const c of message.clusters) {
        next.set(clusterKey(c), c);
      }
      break;
    case 'updated':
      next.set(clusterKey(message.cluster), message.cluster);
      break;
    case 'deleted':
      next.delete(clusterKey(message));
      break;
  }
  return next;
}

/**
 * Why the server's list may be out of date (its watch of Kubernetes keeps
 * failing), after this message; null while it is current.
 */
export function staleAfter(current: string | null, message: StreamMessage): string | null {
  switch (message.type) {
    case 'snapshot':
      return message.stale ?? null;
    case 'health':
      return message.stale;
    default:
      return current;
  }
}

/** Clusters sorted by namespace, then name. */
export function sortedClusters(clusters: Map<string, ICluster>): ICluster[] {
  return [...clusters.values()].sort((a, b) =>
    clusterKey(a).localeCompare(clusterKey(b))
  );
}

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

/** Base path of a proxied dashboard, ending in a slash. */
export function dashboardRoot(dashboardUrl: string): string {
  let url = dashboardUrl.replace(/[?#].*$/, '');
  url = url.replace(/\/status\/?$/, '/');
  return url.endsWith('/') ? url : url + '/';
}

export function plotsJsonUrl(dashboardUrl: string): string {
  return dashboardRoot(dashboardUrl) + 'individual-plots.json';
}

/** Buttons for the plots listed by the scheduler, sorted by label. */
export function plotsFromJson(dashboardUrl: string, json: unknown): IPlot[] {
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    return [];
  }
  const root = dashboardRoot(dashboardUrl);
  const plots: IPlot[] = [];
  for (const [title, path] of Object.entries(json as Record<string, unknown>)) {
    if (typeof path !== 'string') {
      continue;
    }
    const label = title.replace(/^Individual\s+/i, '').trim() || title;
    plots.push({ label, route: root + path.replace(/^\/+/, '') });
  }
  plots.sort((a, b) => a.label.localeCompare(b.label));
  return plots;
}

/** Parse `KEY=VALUE` lines; blank lines and `#` comments are ignored. */
export function parseEnv(text: string): { env: { [key: string]: string }; error?: string } {
  const env: { [key: string]: string } = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) {
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) {
      return { env, error: `line ${i + 1} "${line}" is not KEY=VALUE` };
    }
    const key = line.slice(0, eq).trim();
    if (!ENV_NAME.test(key)) {
      return { env, error: `line ${i + 1}: "${key}" is not a valid variable name` };
    }
    env[key] = line.slice(eq + 1).trim();
  }
  return { env };
}

export function validateName(name: string, field = 'name'): IFieldError | null {
  if (!name) {
    return null;
  }
  if (name.length > 40 || !DNS_LABEL.test(name)) {
    return {
      field,
      message: `"${name}" must be lower-case letters, digits and "-", start and end with a letter or digit, at most 40 characters`
    };
  }
  return null;
}

export function validateQuantity(value: string, field: string): IFieldError | null {
  if (!value || QUANTITY.test(value)) {
    return null;
  }
  return {
    field,
    message: `"${value}" is not a Kubernetes quantity (e.g. 500m, 1, 2Gi)`
  };
}

export function parseWorkers(value: string, field = 'n_workers'): { n?: number; error?: IFieldError } {
  if (value.trim() === '') {
    return {};
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    return { error: { field, message: `"${value}" is not a whole number of workers (0 or more)` } };
  }
  return { n };
}

function resourcesFrom(v: {
  cpuRequest: string;
  memoryRequest: string;
  cpuLimit: string;
  memoryLimit: string;
}): IResources | undefined {
  const requests: { [k: string]: string } = {};
  const limits: { [k: string]: string } = {};
  if (v.cpuRequest) requests.cpu = v.cpuRequest;
  if (v.memoryRequest) requests.memory = v.memoryRequest;
  if (v.cpuLimit) limits.cpu = v.cpuLimit;
  if (v.memoryLimit) limits.memory = v.memoryLimit;
  const out: IResources = {};
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return Object.keys(out).length ? out : undefined;
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
  push(validateName(name, 'name'));
  push(validateName(namespace, 'namespace'));
  if (name) request.name = name;
  if (namespace) request.namespace = namespace;
  if (v.template) request.template = v.template;
  if (v.image.trim()) request.image = v.image.trim();
  const workers = parseWorkers(v.workers);
  push(workers.error);
  if (workers.n !== undefined) request.n_workers = workers.n;
  const quantities = {
    cpuRequest: v.cpuRequest.trim(),
    memoryRequest: v.memoryRequest.trim(),
    cpuLimit: v.cpuLimit.trim(),
    memoryLimit: v.memoryLimit.trim()
  };
  push(validateQuantity(quantities.cpuRequest, 'resources.requests.cpu'));
  push(validateQuantity(quantities.memoryRequest, 'resources.requests.memory'));
  push(validateQuantity(quantities.cpuLimit, 'resources.limits.cpu'));
  push(validateQuantity(quantities.memoryLimit, 'resources.limits.memory'));
  const resources = resourcesFrom(quantities);
  if (resources) request.resources = resources;
  const env = parseEnv(v.env);
  if (env.error) {
    errors.push({ field: 'env', message: env.error });
  } else if (Object.keys(env.env).length) {
    request.env = env.env;
  }
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
    'resources.requests.cpu': 'cpuRequest',
    'resources.requests.memory': 'memoryRequest',
    'resources.limits.cpu': 'cpuLimit',
    'resources.limits.memory': 'memoryLimit',
    env: 'env'
  };
  if (table[field]) return table[field];
  if (field.startsWith('env')) return 'env';
  if (field.startsWith('resources.limits.m')) return 'memoryLimit';
  if (field.startsWith('resources.limits')) return 'cpuLimit';
  if (field.startsWith('resources.requests.m')) return 'memoryRequest';
  if (field.startsWith('resources')) return 'cpuRequest';
  return null;
}

/** Validate the scale dialog. */
export function validateScale(v: {
  adaptive: boolean;
  workers: string;
  minimum: string;
  maximum: string;
}): { body?: { workers: number } | { adapt: IAdaptRange | null }; error?: IFieldError } {
  if (!v.adaptive) {
    const w = parseWorkers(v.workers, 'workers');
    if (w.error) return { error: w.error };
    if (w.n === undefined) {
      return { error: { field: 'workers', message: 'enter a number of workers' } };
    }
    return { body: { workers: w.n } };
  }
  const lo = parseWorkers(v.minimum, 'minimum');
  const hi = parseWorkers(v.maximum, 'maximum');
  if (lo.error) return { error: lo.error };
  if (hi.error) return { error: hi.error };
  if (lo.n === undefined || hi.n === undefined) {
    return { error: { field: lo.n === undefined ? 'minimum' : 'maximum', message: 'enter both a minimum and a maximum' } };
  }
  if (lo.n > hi.n) {
    return {
      error: { field: 'minimum', message: `minimum ${lo.n} is above maximum ${hi.n}: lower the minimum or raise the maximum` }
    };
  }
  return { body: { adapt: { minimum: lo.n, maximum: hi.n } } };
}

/** Values as typed into the "Add worker group" form. */
export interface IWorkerGroupFormValues {
  name: string;
  workers: string;
  image: string;
  cpuRequest: string;
  memoryRequest: string;
  cpuLimit: string;
  memoryLimit: string;
}

/** Turn the worker-group form into the POST body, or the errors to show. */
export function buildWorkerGroupRequest(v: IWorkerGroupFormValues): {
  request: IWorkerGroupRequest;
  errors: IFieldError[];
} {
  const errors: IFieldError[] = [];
  const name = v.name.trim();
  if (!name) {
    errors.push({ field: 'name', message: 'a worker group needs a name' });
  } else {
    const e = validateName(name, 'name');
    if (e) errors.push(e);
  }
  if (name === 'default') {
    errors.push({ field: 'name', message: '"default" is the cluster\'s own group: choose another name' });
  }
  const w = parseWorkers(v.workers, 'n_workers');
  if (w.error) errors.push(w.error);
  const request: IWorkerGroupRequest = { name, n_workers: w.n ?? 1 };
  if (v.image.trim()) request.image = v.image.trim();
  const q = {
    cpuRequest: v.cpuRequest.trim(),
    memoryRequest: v.memoryRequest.trim(),
    cpuLimit: v.cpuLimit.trim(),
    memoryLimit: v.memoryLimit.trim()
  };
  for (const [key, field] of [
    ['cpuRequest', 'resources.requests.cpu'],
    ['memoryRequest', 'resources.requests.memory'],
    ['cpuLimit', 'resources.limits.cpu'],
    ['memoryLimit', 'resources.limits.memory']
  ] as const) {
    const e = validateQuantity(q[key], field);
    if (e) errors.push(e);
  }
  const resources = resourcesFrom(q);
  if (resources) request.resources = resources;
  return { request, errors };
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
