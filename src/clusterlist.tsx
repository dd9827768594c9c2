/**
 * The list of clusters in the sidebar: one card per cluster with its phase,
 * start progress, the reason when it is stuck, workers per group, cores,
 * memory, age and its actions.  Cards can be dragged into a notebook.
 * Built for hundreds of clusters: only the cards in view are in the DOM
 * (virtuallist.tsx), a card re-renders only when its cluster, selection, error
 * or permissions change, and icons are CSS (icons.ts), not SVG copies.
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
import { Age } from './age';
import { chartIcon, iconClass, scaleIcon } from './icons';
import { clusterStage, formatBytes, startProgress, startStatus } from './format';
import { clusterKey } from './stream';
import { ICluster } from './types';
import { ClusterModel } from './model';
import { startClusterDrag } from './notebook';
import { INamespacePermissions, refusalOf, refusals } from './permissions';
import { useNamespacePermissions } from './usepermissions';
import { describeSkew, versionSkewOf } from './versions';
import { VirtualList } from './virtuallist';

/** A card's height before it is measured (a running cluster with one group). */
const CARD_ESTIMATE_PX = 110;

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
      className={`jp-ToolbarButtonComponent jp-mod-minimal jp-Button dk8s-Action ${iconClass(props.icon)}`}
      title={props.label}
      aria-label={props.label}
      data-testid={props.testid}
      disabled={props.disabled}
      onMouseDown={e => e.stopPropagation()}
      onClick={e => {
        e.stopPropagation();
        props.onClick();
      }}
    />
  );
}

interface IItemProps {
  cluster: ICluster;
  selected: boolean;
  actionError: string | null;
  /** The namespace's permissions (null while unknown: the server then decides). */
  permissions: INamespacePermissions | null;
  commands: CommandRegistry;
  /** Stable callbacks taking the cluster's key, so an unchanged card is not re-rendered. */
  onSelect: (key: string) => void;
  onDismissError: (key: string) => void;
  /** Position in the whole list (1-based) and its length, for assistive technology. */
  position: number;
  count: number;
}

const ClusterItem = React.memo(function ClusterItem({
  cluster,
  selected,
  actionError,
  permissions,
  commands,
  onSelect: select,
  onDismissError: dismissError,
  position,
  count
}: IItemProps): JSX.Element {
  const key = clusterKey(cluster);
  const onSelect = () => select(key);
  const onDismissError = () => dismissError(key);
  // Actions the account may not take are greyed out, with the reason (asked of Kubernetes).
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
      data-cluster={key}
      data-phase={cluster.phase}
      data-testid={`cluster-${cluster.namespace}-${cluster.name}`}
      tabIndex={0}
      role="option"
      aria-selected={selected}
      aria-posinset={position}
      aria-setsize={count}
      title="Click to select; drag into a notebook to insert client code"
      onClick={onSelect}
      onMouseDown={onMouseDown}
      onKeyDown={e => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onSelect();
        } else if (e.key === 'Delete' && !refusalOf(permissions, 'delete')) {
          run(CommandIDs.deleteCluster)();
        } else if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && e.target === e.currentTarget) {
          // The neighbour is rendered (the list keeps a few cards beyond the view); focusing it scrolls.
          const next = e.key === 'ArrowDown' ? e.currentTarget.nextElementSibling : e.currentTarget.previousElementSibling;
          if (next instanceof HTMLElement) {
            e.preventDefault();
            next.focus();
          }
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
        <Age created={cluster.created} />
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
});

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
    return <ClusterListBody model={this.model} commands={this.commands} scroller={this.node} />;
  }
}

function ClusterListBody({
  model,
  commands,
  scroller
}: {
  model: ClusterModel;
  commands: CommandRegistry;
  scroller: HTMLElement;
}): JSX.Element {
  const clusters = model.clusters;
  const namespaces = React.useMemo(() => [...new Set(clusters.map(c => c.namespace))].sort(), [clusters]);
  const permissions = useNamespacePermissions(model.api, namespaces);
  const onSelect = React.useCallback((key: string) => model.select(key), [model]);
  const onDismissError = React.useCallback((key: string) => model.setActionError(key, null), [model]);
  const renderRow = (c: ICluster, index: number) => {
    const key = clusterKey(c);
    return (
      <ClusterItem
        key={key}
        cluster={c}
        selected={key === model.selectedKey}
        actionError={model.actionError(key)}
        permissions={permissions.get(c.namespace) ?? null}
        commands={commands}
        onSelect={onSelect}
        onDismissError={onDismissError}
        position={index + 1}
        count={clusters.length}
      />
    );
  };
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
      <VirtualList
        items={clusters}
        keyOf={clusterKey}
        renderRow={renderRow}
        scroller={scroller}
        estimate={CARD_ESTIMATE_PX}
        className="dk8s-Clusters"
        role="listbox"
        label="Dask clusters"
      />
    </>
  );
}
