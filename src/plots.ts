/**
 * Routes of a cluster's proxied dashboard: its root and the individual
 * plots the scheduler lists.  Pure: runs under plain Node.
 */
import { IPlot } from './types';

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
