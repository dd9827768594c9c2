/**
 * The sidebar's view of GET /dask-k8s/permissions: one request per namespace, shared by
 * every card of that namespace and refreshed as often as the server's cache expires.
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
