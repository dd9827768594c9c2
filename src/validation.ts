/**
 * Checks of single form values, by the rules of the shared contract
 * (contract.generated.ts), so the form refuses what the server and the CRDs
 * refuse.  Each problem names the field the way the server does.  Pure.
 */
import {
  CLUSTER_NAME_PATTERN,
  DNS_LABEL_PATTERN,
  ENV_NAME_PATTERN,
  MAX_CLUSTER_NAME,
  MAX_DNS_LABEL,
  QUANTITY_PATTERN,
  RESOURCE_QUANTITY_PATTERN,
  WORKER_GROUP_NAME_PATTERN
} from './contract.generated';
import { IAdaptRange, IFieldError } from './types';

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
    if (!ENV_NAME_PATTERN.test(key)) {
      return { env, error: `line ${i + 1}: "${key}" is not a valid variable name` };
    }
    env[key] = line.slice(eq + 1).trim();
  }
  return { env };
}

/** A DaskCluster name (empty: the server picks one). It also names the `<name>-scheduler` Service. */
export function validateClusterName(name: string, field = 'name'): IFieldError | null {
  if (!name || (name.length <= MAX_CLUSTER_NAME && CLUSTER_NAME_PATTERN.test(name))) {
    return null;
  }
  return {
    field,
    message:
      `"${name}" is not a valid cluster name: use at most ${MAX_CLUSTER_NAME} lower-case letters, ` +
      'digits and "-", starting with a letter and ending with a letter or digit'
  };
}

/** A namespace (empty: the server's default), a DNS label. */
export function validateNamespace(name: string, field = 'namespace'): IFieldError | null {
  if (!name || (name.length <= MAX_DNS_LABEL && DNS_LABEL_PATTERN.test(name))) {
    return null;
  }
  return {
    field,
    message:
      `"${name}" is not a valid namespace: use at most ${MAX_DNS_LABEL} lower-case letters, ` +
      'digits and "-", starting and ending with a letter or digit'
  };
}

/**
 * A worker group name; its DaskWorkerGroup is `<cluster>-<group>`, which must
 * stay a DNS label too, so with the cluster known the limit is what remains.
 */
export function validateGroupName(name: string, cluster?: string, field = 'name'): IFieldError | null {
  if (!name) {
    return { field, message: 'a worker group needs a name' };
  }
  const maximum = cluster ? MAX_DNS_LABEL - cluster.length - 1 : MAX_DNS_LABEL;
  if (name.length <= maximum && WORKER_GROUP_NAME_PATTERN.test(name)) {
    return null;
  }
  return {
    field,
    message:
      `"${name}" is not a valid worker group name: use at most ${maximum} lower-case letters, ` +
      'digits and "-", starting and ending with a letter or digit'
  };
}

/** A resource request or limit (empty: none): a quantity, and not a negative one. */
export function validateQuantity(value: string, field: string): IFieldError | null {
  if (!value || RESOURCE_QUANTITY_PATTERN.test(value)) {
    return null;
  }
  if (QUANTITY_PATTERN.test(value)) {
    return { field, message: `"${value}" is negative: requests and limits are 0 or more` };
  }
  return { field, message: `"${value}" is not a Kubernetes quantity (e.g. 500m, 1, 2Gi)` };
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
