/**
 * The create form's quota preview: the namespace's ResourceQuota (used / hard) and LimitRange
 * defaults, what the cluster being filled in would add, and why it would not fit.  The server
 * computes it (POST /dask-k8s/quota with the create body; nothing is created).
 */
import { URLExt } from '@jupyterlab/coreutils';
import * as React from 'react';

import { DaskK8sApi } from './api';
import { ICreateClusterRequest } from './types';

export interface IQuotaRow {
  quota: string;
  resource: string;
  used: string;
  hard: string;
  adds: string;
  fits: boolean;
}

export interface IQuotaView {
  namespace: string;
  visible: boolean;
  quotas: IQuotaRow[];
  limit_range: { default_requests?: { [k: string]: string }; default_limits?: { [k: string]: string } };
  fits: boolean;
  message: string | null;
}

const api = new DaskK8sApi();

function defaults(values: { [k: string]: string } | undefined): string {
  return Object.entries(values ?? {})
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

/** The preview for `request` (null while the form has errors of its own). */
export function QuotaPreview(props: { request: ICreateClusterRequest | null }): JSX.Element | null {
  const [view, setView] = React.useState<IQuotaView | null>(null);
  const body = props.request ? JSON.stringify(props.request) : null;
  React.useEffect(() => {
    if (body === null) {
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      api
        .request<IQuotaView>(URLExt.join('dask-k8s', 'quota'), { method: 'POST', body })
        .then(v => live && setView(v))
        .catch(() => live && setView(null));
    }, 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [body]);
  if (!view || !view.visible || (!view.quotas.length && !defaults(view.limit_range.default_requests))) {
    return null;
  }
  const requests = defaults(view.limit_range.default_requests);
  const limits = defaults(view.limit_range.default_limits);
  return (
    <div className="dk8s-Quota" data-testid="quota">
      <div className="dk8s-Help">Quota of namespace {view.namespace}</div>
      {view.quotas.length ? (
        <table className="dk8s-QuotaTable" style={{ borderSpacing: '12px 2px', textAlign: 'right' }}>
          <thead>
            <tr>
              <th>resource</th>
              <th>used</th>
              <th>this cluster</th>
              <th>hard</th>
            </tr>
          </thead>
          <tbody>
            {view.quotas.map(row => (
              <tr
                key={`${row.quota}/${row.resource}`}
                data-testid={`quota-${row.resource}`}
                className={row.fits ? '' : 'dk8s-mod-error'}
              >
                <td>{row.resource}</td>
                <td>{row.used}</td>
                <td>+{row.adds}</td>
                <td>{row.hard}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {requests || limits ? (
        <div className="dk8s-Help">
          LimitRange defaults per container: {requests ? `requests ${requests}` : ''}
          {requests && limits ? '; ' : ''}
          {limits ? `limits ${limits}` : ''}
        </div>
      ) : null}
      {view.message ? (
        <div className="dk8s-FieldError" role="alert" data-testid="quota-refusal">
          {view.message}
        </div>
      ) : null}
    </div>
  );
}
