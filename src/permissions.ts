/**
 * What the server's Kubernetes account may do in a namespace (GET /dask-k8s/permissions),
 * and the reason shown for an action it may not take.  Pure: no JupyterLab imports.
 */

/** The actions the server checks, as named by the REST API. */
export type PermissionAction =
  | 'create'
  | 'delete'
  | 'scale'
  | 'adapt'
  | 'add_worker_group'
  | 'remove_worker_group'
  | 'logs'
  | 'events';

export interface IActionPermission {
  allowed: boolean;
  reason?: string;
}

export interface INamespacePermissions {
  namespace: string;
  /** false: Kubernetes could not be asked; every action is offered and the server decides. */
  known: boolean;
  reason?: string;
  actions: { [action: string]: IActionPermission };
}

export interface IPermissionsReply {
  permissions: INamespacePermissions[];
  cache_seconds: number;
}

/** Why `action` is refused, or null when it is allowed or not known. */
export function refusalOf(
  permissions: INamespacePermissions | null | undefined,
  action: PermissionAction
): string | null {
  if (!permissions || !permissions.known) {
    return null;
  }
  const entry = permissions.actions[action];
  if (!entry || entry.allowed) {
    return null;
  }
  return entry.reason || `your account may not ${action.replace(/_/g, ' ')} in ${permissions.namespace}`;
}

/** The distinct reasons of the refused actions among `actions`, in order. */
export function refusals(
  permissions: INamespacePermissions | null | undefined,
  actions: PermissionAction[]
): string[] {
  const reasons: string[] = [];
  for (const action of actions) {
    const reason = refusalOf(permissions, action);
    if (reason && !reasons.includes(reason)) {
      reasons.push(reason);
    }
  }
  return reasons;
}
