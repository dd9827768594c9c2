/**
 * The sidebar's view of GET /dask-k8s/permissions: one request per namespace, shared by
 * every card of that namespace and refreshed as often as the server's cache expires.
 * The list asks once for all its namespaces (`useNamespacePermissions`) and hands each
 * card its namespace's entry, which keeps its identity while unchanged.
 */
import * as React from 'react';

import { DaskK8sApi } from './api';
import { INamespacePermissions } from './permissions';

const REFRESH_MS = 30000;
const cache = new Map<string, { at: number; value: Promise<INamespacePermissions | null> }>();

/** The permissions of `namespace` (null while unknown: the server then decides). */
export function fetchPermissions(
  api: DaskK8sApi,
  namespace: string
): Promise<INamespacePermissions | null> {
  const hit = cache.get(namespace);
  if (hit && Date.now() - hit.at < REFRESH_MS) {
    return hit.value;
  }
  const value = api
    .permissions(namespace)
    .then(reply => reply.permissions.find(p => p.namespace === namespace) ?? null)
    .catch(() => null);
  cache.set(namespace, { at: Date.now(), value });
  return value;
}

export function usePermissions(api: DaskK8sApi, namespace: string): INamespacePermissions | null {
  const [permissions, setPermissions] = React.useState<INamespacePermissions | null>(null);
  React.useEffect(() => {
    let live = true;
    const load = () =>
      void fetchPermissions(api, namespace).then(p => {
        if (live) {
          setPermissions(p);
        }
      });
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [api, namespace]);
  return permissions;
}

/** The permissions of each of `namespaces`, by namespace, with one timer for all of them. */
export function useNamespacePermissions(
  api: DaskK8sApi,
  namespaces: string[]
): ReadonlyMap<string, INamespacePermissions | null> {
  const [byNamespace, setByNamespace] = React.useState<ReadonlyMap<string, INamespacePermissions | null>>(
    () => new Map()
  );
  const key = namespaces.join('\n');
  React.useEffect(() => {
    let live = true;
    const wanted = key ? key.split('\n') : [];
    const load = () =>
      void Promise.all(wanted.map(ns => fetchPermissions(api, ns))).then(replies => {
        if (!live) {
          return;
        }
        setByNamespace(previous => {
          // Keep the previous entry while it says the same: cards re-render only on a change.
          let changed = previous.size !== wanted.length;
          const next = new Map<string, INamespacePermissions | null>();
          wanted.forEach((ns, i) => {
            const old = previous.get(ns);
            const same = old !== undefined && JSON.stringify(old) === JSON.stringify(replies[i]);
            next.set(ns, same ? old! : replies[i]);
            changed = changed || !same;
          });
          return changed ? next : previous;
        });
      });
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [api, key]);
  return byNamespace;
}
