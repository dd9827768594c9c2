/**
 * How every command reports a failure: in its form (at the field the server
 * named), or on the cluster's card and as a notification.
 */
import { Notification } from '@jupyterlab/apputils';

import { ApiError } from './api';
import { ClusterModel } from './model';
import { clusterKey } from './stream';
import { IFieldError } from './types';

/** The message of an error from the server or from anywhere else. */
export function messageOf(error: unknown): string {
  return error instanceof ApiError || error instanceof Error ? error.message : String(error);
}

/** A refused request as the error its form shows: at the field the server named, if any. */
export function formErrorOf(error: unknown): IFieldError {
  const field = error instanceof ApiError ? error.field : undefined;
  return { field: field ?? '', message: messageOf(error) };
}

/**
 * Run an action; when it fails, show "`what`: why" as a notification and,
 * given the cluster it acts on, on that cluster's card (a success clears
 * the card's earlier error).  Resolves to whether it succeeded.
 */
export async function runAction(
  what: string,
  action: () => Promise<unknown>,
  on?: { model: ClusterModel; cluster: { namespace: string; name: string } }
): Promise<boolean> {
  const key = on ? clusterKey(on.cluster) : null;
  try {
    await action();
    if (on && key) on.model.setActionError(key, null);
    return true;
  } catch (error) {
    const message = `${what}: ${messageOf(error)}`;
    if (on && key) on.model.setActionError(key, message);
    Notification.error(message, { autoClose: 8000 });
    return false;
  }
}
