/**
 * The cluster list as the server's stream describes it: a reducer over its
 * messages, and the "list may be stale" state.  Pure: runs under plain Node.
 */
import { ICluster, StreamMessage } from './types';

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
