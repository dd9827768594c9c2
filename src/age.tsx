/**
 * A cluster's age, kept current by one clock shared by every card: a tick
 * re-renders the age texts only, not the cards around them.
 */
import * as React from 'react';

import { formatAge } from './format';

const TICK_MS = 10000;
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | null = null;

/** Subscribe to the shared clock; it runs while anyone listens. */
function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (!timer) {
    timer = setInterval(() => listeners.forEach(l => l()), TICK_MS);
  }
  return () => {
    listeners.delete(listener);
    if (!listeners.size && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
}

export function Age({ created }: { created: string | null }): JSX.Element {
  const [now, setNow] = React.useState(Date.now);
  React.useEffect(() => subscribe(() => setNow(Date.now())), []);
  return <span title={created ?? ''}>{formatAge(created, now)}</span>;
}
