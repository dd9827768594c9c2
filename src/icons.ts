import { LabIcon } from '@jupyterlab/ui-components';

/** Sidebar icon: three linked nodes inside a hexagon (a cluster on Kubernetes). */
const clusterSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="none" stroke="#616161" stroke-width="1.6" stroke-linejoin="round">
    <path d="M12 2.2 20.5 7.1v9.8L12 21.8 3.5 16.9V7.1z"/>
    <path d="M12 8.2 8.2 14.6M12 8.2l3.8 6.4M8.2 14.6h7.6"/>
  </g>
  <g class="jp-icon3" fill="#616161">
    <circle cx="12" cy="8.2" r="2"/>
    <circle cx="8.2" cy="14.6" r="2"/>
    <circle cx="15.8" cy="14.6" r="2"/>
  </g>
</svg>`;

export const clusterIcon = new LabIcon({ name: 'dask-k8s-lab:cluster', svgstr: clusterSvg });

/** A small chart, for dashboard panes and plot buttons. */
const chartSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="3" y="13" width="4" height="8" rx="0.5"/>
    <rect x="10" y="8" width="4" height="13" rx="0.5"/>
    <rect x="17" y="3" width="4" height="18" rx="0.5"/>
  </g>
</svg>`;

export const chartIcon = new LabIcon({ name: 'dask-k8s-lab:chart', svgstr: chartSvg });

/** Scale: arrows up and down. */
const scaleSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="none" stroke="#616161" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
    <path d="M7 20V4M3.5 7.5 7 4l3.5 3.5M17 4v16M13.5 16.5 17 20l3.5-3.5"/>
  </g>
</svg>`;

export const scaleIcon = new LabIcon({ name: 'dask-k8s-lab:scale', svgstr: scaleSvg });

/**
 * A CSS class that draws `icon` as the element's ::before (a mask in the theme's icon
 * colour): one stylesheet rule per icon instead of an inline SVG copy per button, which
 * keeps a long cluster list's DOM small.
 */
export function iconClass(icon: LabIcon): string {
  const name = `dk8s-Icon-${icon.name.replace(/[^A-Za-z0-9_-]/g, '-')}`;
  if (!iconRules.has(name)) {
    iconRules.add(name);
    if (!iconSheet) {
      iconSheet = document.createElement('style');
      iconSheet.setAttribute('data-dk8s', 'icons');
      document.head.appendChild(iconSheet);
    }
    const url = `url("data:image/svg+xml,${encodeURIComponent(icon.svgstr)}")`;
    iconSheet.appendChild(
      document.createTextNode(`.${name}::before { -webkit-mask-image: ${url}; mask-image: ${url}; }\n`)
    );
  }
  return `dk8s-Icon ${name}`;
}

const iconRules = new Set<string>();
let iconSheet: HTMLStyleElement | null = null;
