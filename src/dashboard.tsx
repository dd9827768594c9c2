/**
 * Dashboards: the launcher in the sidebar (a URL box and one button per plot
 * the scheduler lists in individual-plots.json, fetched through our proxy)
 * and the main-area panes that show a plot in an iframe.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IFrame, ReactWidget } from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import * as React from 'react';

import { ApiError, DaskK8sApi } from './api';
import { CommandIDs } from './commandids';
import { chartIcon } from './icons';
import { plotsFromJson, plotsJsonUrl } from './plots';
import { ICluster, IPlot } from './types';

/**
 * A plot pane: an iframe on a proxied dashboard route. A scheduler's page is untrusted, so the
 * frame gets an opaque origin (no 'allow-same-origin'): its scripts cannot reach this page, its
 * cookies or the Jupyter API as the user. The proxy sandboxes the page the same way when it is
 * opened outside the frame.
 */
export class DashboardPane extends MainAreaWidget<IFrame> {
  constructor(readonly url: string, label: string) {
    const content = new IFrame({ sandbox: ['allow-scripts', 'allow-popups', 'allow-downloads'] });
    content.url = url;
    content.addClass('dk8s-DashboardFrame');
    super({ content });
    this.addClass('dk8s-Dashboard');
    this.title.label = label;
    this.title.caption = url;
    this.title.icon = chartIcon;
    this.title.closable = true;
  }
}

/** Sidebar part: dashboard URL box plus plot buttons. */
export class DashboardLauncher extends ReactWidget {
  constructor(
    private readonly api: DaskK8sApi,
    private readonly commands: CommandRegistry
  ) {
    super();
    this.addClass('dk8s-Launcher');
  }

  /** Point the launcher at a cluster (or nothing); loads its plot list. */
  setCluster(cluster: ICluster | null): void {
    const url = cluster?.dashboard_url ?? '';
    const phase = cluster?.phase ?? '';
    const sameUrl = url === this._url;
    if (sameUrl && (phase === this._phase || this._plots.length)) {
      this._phase = phase;
      return;
    }
    this._phase = phase;
    this._clusterName = cluster ? cluster.name : '';
    this._url = url;
    this._input = url;
    if (cluster && phase.toLowerCase() !== 'running') {
      // The scheduler serves its plot list only once it runs; wait for that.
      this._plots = [];
      this._loading = false;
      this._error = 'The plots appear when the scheduler is running.';
      this.update();
      return;
    }
    void this._load();
  }

  get url(): string {
    return this._url;
  }

  private async _load(): Promise<void> {
    const url = this._url;
    this._plots = [];
    this._error = null;
    if (!url) {
      this.update();
      return;
    }
    this._loading = true;
    this.update();
    try {
      if (!url.startsWith('/')) {
        throw new ApiError('plots are listed only for dashboards proxied by this server', 0);
      }
      const json = await this.api.getJson<unknown>(plotsJsonUrl(url));
      if (url !== this._url) return;
      this._plots = plotsFromJson(url, json);
      if (!this._plots.length) {
        this._error = 'The scheduler lists no plots.';
      }
    } catch (error) {
      if (url !== this._url) return;
      this._error = `Plots unavailable: ${error instanceof ApiError ? error.message : String(error)}`;
    }
    this._loading = false;
    this.update();
  }

  private _openInput(): void {
    const url = this._input.trim();
    if (!url) return;
    void this.commands.execute(CommandIDs.openDashboard, { url, label: 'Dask dashboard' });
    if (url !== this._url) {
      this._url = url;
      this._clusterName = '';
      void this._load();
    }
  }

  protected render(): JSX.Element {
    const header = this._clusterName ? `Dashboard of ${this._clusterName}` : 'Dashboard';
    return (
      <div className="dk8s-LauncherBody">
        <div className="dk8s-SectionHeader">{header}</div>
        <div className="dk8s-UrlBox">
          <input
            className="jp-mod-styled"
            aria-label="Dashboard URL"
            placeholder="Dashboard URL (select a cluster or paste one)"
            value={this._input}
            data-testid="dashboard-url"
            onChange={e => {
              this._input = e.currentTarget.value;
              this.update();
            }}
            onKeyDown={e => {
              if (e.key === 'Enter') this._openInput();
            }}
          />
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept"
            disabled={!this._input.trim()}
            onClick={() => this._openInput()}
          >
            Open
          </button>
        </div>
        {this._loading ? <div className="dk8s-Muted">Loading plots…</div> : null}
        {this._error ? <div className="dk8s-Muted" role="status">{this._error}</div> : null}
        {!this._url && !this._loading ? (
          <div className="dk8s-Muted">Select a running cluster to list its plots.</div>
        ) : null}
        <div className="dk8s-Plots" role="group" aria-label="Dashboard plots">
          {this._plots.map((p: IPlot) => (
            <button
              key={p.route}
              type="button"
              className="jp-Button jp-mod-styled dk8s-PlotButton"
              data-testid={`plot-${p.label}`}
              title={p.route}
              onClick={() =>
                void this.commands.execute(CommandIDs.openDashboard, {
                  url: p.route,
                  label: this._clusterName ? `${p.label} (${this._clusterName})` : p.label
                })
              }
            >
              {p.label}
            </button>
          ))}
        </div>
      </div>
    );
  }

  private _url = '';
  private _phase = '';
  private _input = '';
  private _clusterName = '';
  private _plots: IPlot[] = [];
  private _error: string | null = null;
  private _loading = false;
}
