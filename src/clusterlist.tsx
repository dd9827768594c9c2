/**
 * The list of clusters in the sidebar: one card per cluster with its phase,
 * start progress, the reason when it is stuck, workers per group, cores,
 * memory, age and its actions.  Cards can be dragged into a notebook.
 */
import { CommandRegistry } from '@lumino/commands';
import {
  addIcon,
  codeIcon,
  closeIcon,
  deleteIcon,
  LabIcon,
  listIcon,
  ReactWidget
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { CommandIDs } from './commandids';
import { DEFAULT_WORKER_GROUP } from './contract.generated';
import { chartIcon, scaleIcon } from './icons';
import { clusterStage, formatAge, formatBytes, startProgress, startStatus } from './format';
import { clusterKey } from './stream';
import { ICluster } from './types';
import { ClusterModel } from './model';
import { startClusterDrag } from './notebook';
import { refusalOf, refusals } from './permissions';
import { usePermissions } from './usepermissions';
import { describeSkew, versionSkewOf } from './versions';

interface IActionProps {
  icon: LabIcon;
  label: string;
  onClick: () => void;
  testid: string;
  disabled?: boolean;
}

function Action(props: IActionProps): JSX.Element {
  return (
    <button
      type="button"
      className="jp-ToolbarButtonComponent jp-mod-minimal jp-Button dk8s-Action"
      title={props.label}
      aria-label={props.label}
      data-testid={props.testid}
      disabled={props.disabled}
      onMouseDown={e => e.stopPropagation()}
      onClick={e => {
        e.stopPropagation();
        props.onClick();
      }}
    >
      <props.icon.react tag="span" className="jp-ToolbarButtonComponent-icon" />
    </button>
  );
}

interface IItemProps {
  cluster: ICluster;
  selected: boolean;
  actionError: string | null;
  onDismissError: () => void;
  commands: CommandRegistry;
  onSelect: () => void;
  model: ClusterModel;
}

function ClusterItem({
  cluster,
  selected,
  actionError,
  onDismissError,
  commands,
  onSelect,
  model
}: IItemProps): JSX.Element {
  // Actions the account may not take are greyed out, with the reason (asked of Kubernetes).
  const permissions = usePermissions(model.api, cluster.namespace);
  const groupsToRemove = cluster.worker_groups.some(g => g.name !== DEFAULT_WORKER_GROUP);
  const refused = refusals(permissions, [
    'delete',
    'scale',
    'add_worker_group',
    ...(groupsToRemove ? (['remove_worker_group'] as const) : []),
    'logs'
  ]);
  const may = (action: Parameters<typeof refusalOf>[1], label: string) => {
    const reason = refusalOf(permissions, action);
    return { disabled: reason !== null, label: reason ? `${label}: ${reason}` : label };
  };
  const stage = clusterStage(cluster);
  const args = { namespace: cluster.namespace, name: cluster.name };
  const run = (id: string, extra: { [k: string]: string } = {}) => () =>
    void commands.execute(id, { ...args, ...extra });
  const progress = startProgress(cluster);
  const ref = React.useRef<HTMLLIElement>(null);

  const onMouseDown = (event: React.MouseEvent) => {
    if (event.button !== 0 || (event.target as HTMLElement).closest('button')) {
      return;
    }
    const startX = event.clientX;
    const startY = event.clientY;
    const move = (e: MouseEvent) => {
      if (Math.abs(e.clientX - startX) + Math.abs(e.clientY - startY) > 5) {
        cleanup();
        void startClusterDrag(cluster, ref.current!, e.clientX, e.clientY);
      }
    };
    const cleanup = () => {
      document.removeEventListener('mousemove', move, true);
      document.removeEventListener('mouseup', cleanup, true);
    };
    document.addEventListener('mousemove', move, true);
    document.addEventListener('mouseup', cleanup, true);
  };

  return (
    <li
      ref={ref}
      className={`dk8s-ClusterItem dk8s-mod-${stage}${selected ? ' jp-mod-selected' : ''}`}
      data-cluster={clusterKey(cluster)}
      data-phase={cluster.phase}
      data-testid={`cluster-${cluster.namespace}-${cluster.name}`}
      tabIndex={0}
      role="option"
      aria-selected={selected}
      title="Click to select; drag into a notebook to insert client code"
      onClick={onSelect}
      onMouseDown={onMouseDown}
      onKeyDown={e => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onSelect();
        } else if (e.key === 'Delete' && !refusalOf(permissions, 'delete')) {
          run(CommandIDs.deleteCluster)();
        }
      }}
    >
      <div className="dk8s-ClusterItem-header">
        <span className="dk8s-ClusterItem-name">{cluster.name}</span>
        <span className="dk8s-ClusterItem-namespace">{cluster.namespace}</span>
        <span className={`dk8s-Phase dk8s-Phase-${stage}`} data-testid="phase">
          {cluster.phase || 'Unknown'}
        </span>
      </div>
      {progress < 1 && stage !== 'failed' && stage !== 'stopping' ? (
        <div
          className="dk8s-Progress"
          role="progressbar"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(progress * 100)}
          title={`${cluster.workers_ready} of ${cluster.workers_requested} workers ready`}
        >
          <div className="dk8s-Progress-bar" style={{ width: `${Math.round(progress * 100)}%` }} />
        </div>
      ) : null}
      {startStatus(cluster) ? (
        <div className="dk8s-StartStatus" data-testid="start-status">
          {startStatus(cluster)}
        </div>
      ) : null}
      {cluster.reason && stage !== 'running' ? (
        <div className="dk8s-Reason" data-testid="reason" role="status">
          {cluster.reason}
        </div>
      ) : null}
      {versionSkewOf(cluster) ? (
        <div className="dk8s-Warning dk8s-VersionSkew" role="status" data-testid="version-skew">
          <div>Version mismatch with this notebook environment:</div>
          {describeSkew(versionSkewOf(cluster)!).map(line => (
            <div key={line}>{line}</div>
          ))}
          <div>Fix: {versionSkewOf(cluster)!.fix}.</div>
        </div>
      ) : null}
      {actionError ? (
        <div className="dk8s-Error dk8s-ActionError" role="alert" data-testid="action-error">
          <span>{actionError}</span>
          <Action icon={closeIcon} label="Dismiss" testid="dismiss-error" onClick={onDismissError} />
        </div>
      ) : null}
      <div className="dk8s-ClusterItem-stats">
        <span data-testid="workers" title="workers ready / requested">
          {cluster.workers_ready}/{cluster.workers_requested} workers
        </span>
        {cluster.cores || cluster.memory ? (
          <>
            <span title="cores">{cluster.cores} cores</span>
            <span title="memory">{formatBytes(cluster.memory)}</span>
          </>
        ) : null}
        <span title={cluster.created ?? ''}>{formatAge(cluster.created)}</span>
        {cluster.stops_with_server ? (
          <span data-testid="stops-with-server" title="Deleted when this Jupyter server stops">
            stops with server
          </span>
        ) : null}
      </div>
      {cluster.adapt ? (
        <div className="dk8s-ClusterItem-adapt" data-testid="adapt">
          adaptive {cluster.adapt.minimum}–{cluster.adapt.maximum}
        </div>
      ) : null}
      <ul className="dk8s-Groups" aria-label="worker groups">
        {cluster.worker_groups.map(g => (
          <li key={g.name} className="dk8s-Group" data-testid={`group-${g.name}`}>
            <span className="dk8s-Group-name">{g.name}</span>
            <span className="dk8s-Group-count">
              {g.ready}/{g.requested}
            </span>
            {g.name !== DEFAULT_WORKER_GROUP ? (
              <Action
                icon={closeIcon}
                {...may('remove_worker_group', `Remove worker group ${g.name}`)}
                testid={`remove-group-${g.name}`}
                onClick={run(CommandIDs.removeWorkerGroup, { group: g.name })}
              />
            ) : null}
          </li>
        ))}
      </ul>
      <div className="dk8s-ClusterItem-actions">
        <Action icon={codeIcon} label="Insert client code into the notebook" testid="inject" onClick={run(CommandIDs.injectClientCode)} />
        <Action icon={scaleIcon} {...may('scale', 'Scale or adapt')} testid="scale" onClick={run(CommandIDs.scaleCluster)} />
        <Action icon={addIcon} {...may('add_worker_group', 'Add a worker group')} testid="add-group" onClick={run(CommandIDs.addWorkerGroup)} />
        <Action icon={chartIcon} label="Open the dashboard" testid="dashboard" disabled={!cluster.dashboard_url} onClick={run(CommandIDs.openClusterDashboard)} />
        <Action icon={listIcon} {...may('logs', 'Logs and events')} testid="logs" onClick={run(CommandIDs.showLogs)} />
        <Action icon={deleteIcon} {...may('delete', 'Delete the cluster')} testid="delete" onClick={run(CommandIDs.deleteCluster)} />
      </div>
      {refused.length ? (
        <div className="dk8s-Refused dk8s-Muted" data-testid="refused" role="note">
          {refused.map(reason => (
            <div key={reason}>Not allowed: {reason}.</div>
          ))}
        </div>
      ) : null}
    </li>
  );
}

export class ClusterListView extends ReactWidget {
  constructor(
    private readonly model: ClusterModel,
    private readonly commands: CommandRegistry
  ) {
    super();
    this.addClass('dk8s-ClusterList');
    model.changed.connect(() => this.update(), this);
  }

  protected render(): JSX.Element {
    const { model } = this;
    const clusters = model.clusters;
    let status: JSX.Element | null = null;
    if (model.error) {
      status = (
        <div className="dk8s-Error" role="alert" data-testid="list-error">
          {model.error}
        </div>
      );
    } else if (model.stale) {
      status = (
        <div className="dk8s-Warning" role="status" data-testid="list-stale">
          This list may be out of date: the server {model.stale}.
        </div>
      );
    } else if (model.streamState !== 'live' && model.loaded) {
      status = <div className="dk8s-Muted">Reconnecting to live updates…</div>;
    }
    return (
      <>
        {status}
        {!model.loaded && !model.error ? <div className="dk8s-Muted">Loading clusters…</div> : null}
        {model.loaded && clusters.length === 0 ? (
          <div className="dk8s-Empty">
            No Dask clusters yet. Press <b>New cluster</b> to start one.
          </div>
        ) : null}
        <ul className="dk8s-Clusters" role="listbox" aria-label="Dask clusters">
          {clusters.map(c => (
            <ClusterItem
              key={clusterKey(c)}
              cluster={c}
              selected={clusterKey(c) === model.selectedKey}
              actionError={model.actionError(clusterKey(c))}
              onDismissError={() => model.setActionError(clusterKey(c), null)}
              commands={this.commands}
              onSelect={() => model.select(clusterKey(c))}
              model={model}
            />
          ))}
        </ul>
      </>
    );
  }
}
