/**
 * A main-area pane with a cluster's Kubernetes events and the logs of its
 * pods, refreshed on demand.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { listIcon, ReactWidget, refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ApiError, DaskK8sApi, IClusterEvent } from './api';

const REFRESH_MS = 5000;

export class ClusterLogsView extends ReactWidget {
  constructor(
    private readonly api: DaskK8sApi,
    readonly namespace: string,
    readonly name: string
  ) {
    super();
    this.addClass('dk8s-Logs');
    void this.reload();
    // Keep following a starting or crashing cluster while the pane is on screen.
    this._timer = setInterval(() => {
      if (this.isVisible && !this._loading) {
        void this.reload();
      }
    }, REFRESH_MS);
  }

  dispose(): void {
    clearInterval(this._timer);
    super.dispose();
  }

  async reload(): Promise<void> {
    this._loading = true;
    this.update();
    try {
      const [events, logs] = await Promise.all([
        this.api.events(this.namespace, this.name),
        this.api.logs(this.namespace, this.name)
      ]);
      // Newest first: what is going wrong now is what the user looks for.
      this._events = [...events].sort((a, b) => (b.time ?? '').localeCompare(a.time ?? ''));
      this._logs = logs;
      this._error = null;
    } catch (error) {
      this._error = error instanceof ApiError ? error.message : String(error);
    }
    this._loading = false;
    this.update();
  }

  protected render(): JSX.Element {
    const pods = Object.keys(this._logs).sort();
    return (
      <div className="dk8s-LogsBody">
        <div className="dk8s-LogsToolbar">
          <button
            type="button"
            className="jp-ToolbarButtonComponent jp-mod-minimal jp-Button dk8s-TextButton"
            title="Refresh events and logs (also refreshed every few seconds while shown)"
            onClick={() => void this.reload()}
          >
            <refreshIcon.react tag="span" className="jp-ToolbarButtonComponent-icon" />
            <span className="jp-ToolbarButtonComponent-label">Refresh</span>
          </button>
          <span className="dk8s-Muted">
            {this.namespace}/{this.name}
          </span>
        </div>
        {this._error ? <div className="dk8s-Error" role="alert">{this._error}</div> : null}
        <h3>Events</h3>
        {this._events.length === 0 ? (
          <div className="dk8s-Muted">No events.</div>
        ) : (
          <table className="dk8s-Events">
            <thead>
              <tr>
                <th>Time</th>
                <th>Type</th>
                <th>Reason</th>
                <th>Object</th>
                <th>Message</th>
              </tr>
            </thead>
            <tbody>
              {this._events.map((e, i) => (
                <tr key={i} className={e.type === 'Warning' ? 'dk8s-mod-warning' : ''}>
                  <td>{e.time ? new Date(e.time).toLocaleTimeString() : ''}</td>
                  <td>{e.type}</td>
                  <td>{e.reason}</td>
                  <td>{e.object}</td>
                  <td>{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <h3>Pod logs</h3>
        {pods.length === 0 ? <div className="dk8s-Muted">No pods yet.</div> : null}
        {pods.map(pod => (
          <details key={pod} open={pods.length <= 3} className="dk8s-PodLog">
            <summary>{pod}</summary>
            <pre>{this._logs[pod] || '(empty)'}</pre>
          </details>
        ))}
      </div>
    );
  }

  private _events: IClusterEvent[] = [];
  private _logs: { [pod: string]: string } = {};
  private _error: string | null = null;
  private _loading = false;
  private _timer: ReturnType<typeof setInterval>;
}

export function createLogsPane(
  api: DaskK8sApi,
  namespace: string,
  name: string
): MainAreaWidget<ClusterLogsView> {
  const content = new ClusterLogsView(api, namespace, name);
  const widget = new MainAreaWidget({ content });
  widget.id = `dk8s-logs-${namespace}-${name}`;
  widget.title.label = `Logs: ${name}`;
  widget.title.caption = `Events and pod logs of Dask cluster ${namespace}/${name}`;
  widget.title.icon = listIcon;
  widget.title.closable = true;
  return widget;
}
