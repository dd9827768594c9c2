/**
 * The left sidebar: a header with "New cluster" and refresh, the live
 * cluster list, and the dashboard launcher for the selected cluster.
 */
import { addIcon, ReactWidget, refreshIcon } from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { Panel } from '@lumino/widgets';
import * as React from 'react';

import { ClusterListView } from './clusterlist';
import { CommandIDs } from './commandids';
import { DashboardLauncher } from './dashboard';
import { clusterIcon } from './icons';
import { ClusterModel } from './model';

class SidebarHeader extends ReactWidget {
  constructor(
    private readonly model: ClusterModel,
    private readonly commands: CommandRegistry
  ) {
    super();
    this.addClass('dk8s-Header');
    model.changed.connect(() => this.update(), this);
  }

  protected render(): JSX.Element {
    const live = this.model.streamState === 'live';
    return (
      <>
        <div className="dk8s-Header-title">
          <span className="dk8s-Header-text">Dask clusters</span>
          <span
            className={`dk8s-LiveDot${live ? ' dk8s-mod-live' : ''}`}
            title={live ? 'Live updates on' : 'Live updates off: polling'}
            data-testid="live"
            data-live={live}
          />
          <button
            type="button"
            className="jp-ToolbarButtonComponent jp-mod-minimal jp-Button dk8s-Refresh"
            title="Refresh the list"
            aria-label="Refresh the list"
            onClick={() => void this.commands.execute(CommandIDs.refresh)}
          >
            <refreshIcon.react tag="span" className="jp-ToolbarButtonComponent-icon" />
          </button>
        </div>
        <div className="dk8s-Header-actions">
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept dk8s-TextButton"
            data-testid="new-cluster"
            onClick={() => void this.commands.execute(CommandIDs.newCluster)}
          >
            <addIcon.react tag="span" />
            <span>New cluster</span>
          </button>
        </div>
      </>
    );
  }
}

export class DaskK8sSidebar extends Panel {
  readonly launcher: DashboardLauncher;

  constructor(model: ClusterModel, commands: CommandRegistry) {
    super();
    this.id = 'dask-k8s-sidebar';
    this.addClass('dk8s-Sidebar');
    this.title.icon = clusterIcon;
    this.title.caption = 'Dask clusters';
    this.addWidget(new SidebarHeader(model, commands));
    const list = new ClusterListView(model, commands);
    this.addWidget(list);
    this.launcher = new DashboardLauncher(model.api, commands);
    this.addWidget(this.launcher);
    model.selectionChanged.connect((_, cluster) => this.launcher.setCluster(cluster));
    // A cluster's plots appear only once its scheduler runs: follow the selection's updates.
    model.changed.connect(() => {
      if (model.selected) {
        this.launcher.setCluster(model.selected);
      }
    });
  }
}
