/**
 * Every action of the sidebar as a command, so each is reachable from the
 * buttons, the cluster context menu and the command palette.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Dialog,
  InputDialog,
  MainAreaWidget,
  Notification,
  showDialog,
  WidgetTracker
} from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { addIcon, codeIcon, deleteIcon, listIcon, refreshIcon } from '@jupyterlab/ui-components';

import { runAction } from './actionerror';
import { CommandIDs } from './commandids';
import { IUserTemplate } from './createform';
import { DashboardPane } from './dashboard';
import { addWorkerGroupDialog, createClusterDialog, scaleClusterDialog } from './dialogs';
import { chartIcon, scaleIcon } from './icons';
import { ClusterLogsView, createLogsPane } from './logs';
import { ClusterModel } from './model';
import { insertClientCode } from './notebook';
import { clusterKey } from './stream';
import { ICluster } from './types';

export { CommandIDs };

/** User settings the commands read (see schema/plugin.json). */
export interface ICommandSettings {
  defaults: {
    namespace?: string;
    template?: string;
    image?: string;
    n_workers?: number;
    resources?: { requests?: { [k: string]: string }; limits?: { [k: string]: string } };
    env?: { [k: string]: string };
  };
  templates: IUserTemplate[];
  confirmDelete: boolean;
}

export interface ICommandContext {
  app: JupyterFrontEnd;
  model: ClusterModel;
  notebooks: INotebookTracker | null;
  dashboards: WidgetTracker<DashboardPane>;
  logs: WidgetTracker<MainAreaWidget<ClusterLogsView>>;
  settings: () => ICommandSettings;
  sidebarId: string;
}

const CATEGORY = 'Dask on Kubernetes';

export function registerCommands(ctx: ICommandContext): void {
  const { app, model } = ctx;
  const { commands } = app;

  /** The cluster a command acts on: its args, the right-clicked card, or the selection. */
  const target = async (args: any, choose = true): Promise<ICluster | null> => {
    if (args?.namespace && args?.name) {
      return model.find(String(args.namespace), String(args.name));
    }
    const node = app.contextMenuHitTest(n => n.classList.contains('dk8s-ClusterItem'));
    if (node?.dataset.cluster) {
      const [ns, name] = node.dataset.cluster.split('/');
      return model.find(ns, name);
    }
    if (model.selected) {
      return model.selected;
    }
    const clusters = model.clusters;
    if (!choose || clusters.length === 0) {
      if (choose) Notification.warning('There is no Dask cluster yet: create one first.', { autoClose: 4000 });
      return null;
    }
    if (clusters.length === 1) {
      return clusters[0];
    }
    const result = await InputDialog.getItem({
      title: 'Which cluster?',
      items: clusters.map(clusterKey)
    });
    if (!result.button.accept || !result.value) return null;
    const [ns, name] = result.value.split('/');
    return model.find(ns, name);
  };

  const hasClusters = () => model.clusters.length > 0;

  commands.addCommand(CommandIDs.openSidebar, {
    label: 'Show the Dask clusters sidebar',
    execute: () => app.shell.activateById(ctx.sidebarId)
  });

  commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh Dask clusters',
    icon: refreshIcon,
    execute: () => model.refresh()
  });

  commands.addCommand(CommandIDs.newCluster, {
    label: args => (args.isPalette ? 'New Dask cluster…' : 'New cluster'),
    caption: 'Create a Dask cluster on Kubernetes',
    icon: addIcon,
    execute: () => createClusterDialog(ctx)
  });

  commands.addCommand(CommandIDs.scaleCluster, {
    label: args => (args.isPalette ? 'Scale Dask cluster…' : 'Scale…'),
    icon: scaleIcon,
    isEnabled: hasClusters,
    execute: async args => {
      const cluster = await target(args);
      if (!cluster) return;
      await scaleClusterDialog(ctx, cluster);
    }
  });

  commands.addCommand(CommandIDs.addWorkerGroup, {
    label: args => (args.isPalette ? 'Add a worker group to a Dask cluster…' : 'Add worker group…'),
    icon: addIcon,
    isEnabled: hasClusters,
    execute: async args => {
      const cluster = await target(args);
      if (!cluster) return;
      await addWorkerGroupDialog(ctx, cluster);
    }
  });

  commands.addCommand(CommandIDs.removeWorkerGroup, {
    label: 'Remove worker group…',
    execute: async args => {
      const cluster = await target(args);
      if (!cluster) return;
      const group = String(args.group ?? '');
      if (!group) return;
      const ok = await showDialog({
        title: `Remove worker group ${group}?`,
        body: `Its workers in ${cluster.name} are retired and their data moves to other workers first.`,
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
      });
      if (!ok.button.accept) return;
      await runAction(
        `Could not remove worker group ${group}`,
        () => model.api.deleteWorkerGroup(cluster.namespace, cluster.name, group),
        { model, cluster }
      );
    }
  });

  commands.addCommand(CommandIDs.deleteCluster, {
    label: args => (args.isPalette ? 'Delete Dask cluster…' : 'Delete'),
    icon: deleteIcon,
    isEnabled: hasClusters,
    execute: async args => {
      const cluster = await target(args);
      if (!cluster) return;
      if (ctx.settings().confirmDelete) {
        const ok = await showDialog({
          title: `Delete cluster ${cluster.name}?`,
          body: `The scheduler and all workers in ${cluster.namespace}/${cluster.name} stop, and results held in memory are lost.`,
          buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
        });
        if (!ok.button.accept) return;
      }
      const deleted = await runAction(
        `Could not delete ${cluster.name}`,
        () => model.api.deleteCluster(cluster.namespace, cluster.name),
        { model, cluster }
      );
      if (deleted) model.remove(cluster.namespace, cluster.name);
    }
  });

  commands.addCommand(CommandIDs.showLogs, {
    label: args => (args.isPalette ? 'Show Dask cluster logs and events' : 'Logs and events'),
    icon: listIcon,
    isEnabled: hasClusters,
    execute: async args => {
      let namespace = args.namespace as string | undefined;
      let name = args.name as string | undefined;
      if (!namespace || !name) {
        const cluster = await target(args);
        if (!cluster) return;
        ({ namespace, name } = cluster);
      }
      const existing = ctx.logs.find(
        w => w.content.namespace === namespace && w.content.name === name
      );
      if (existing) {
        app.shell.activateById(existing.id);
        void existing.content.reload();
        return existing;
      }
      const pane = createLogsPane(model.api, namespace, name);
      void ctx.logs.add(pane);
      app.shell.add(pane, 'main');
      return pane;
    }
  });

  commands.addCommand(CommandIDs.openDashboard, {
    label: args => `Open Dask dashboard ${args.label ?? ''}`.trim(),
    icon: chartIcon,
    execute: args => {
      const url = String(args.url ?? '');
      if (!url) return;
      const existing = ctx.dashboards.find(w => w.url === url);
      if (existing) {
        app.shell.activateById(existing.id);
        return existing;
      }
      const pane = new DashboardPane(url, String(args.label ?? 'Dask dashboard'));
      pane.id = `dk8s-dashboard-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
      void ctx.dashboards.add(pane);
      app.shell.add(pane, 'main', { mode: (args.mode as any) || 'split-right' });
      return pane;
    }
  });

  commands.addCommand(CommandIDs.openClusterDashboard, {
    label: args => (args.isPalette ? "Open a Dask cluster's dashboard" : 'Open dashboard'),
    icon: chartIcon,
    isEnabled: hasClusters,
    execute: async args => {
      const cluster = await target(args);
      if (!cluster) return;
      if (!cluster.dashboard_url) {
        Notification.warning(`${cluster.name} has no dashboard yet: its scheduler is not running.`, { autoClose: 4000 });
        return;
      }
      model.select(clusterKey(cluster));
      return commands.execute(CommandIDs.openDashboard, {
        url: cluster.dashboard_url,
        label: `Dashboard (${cluster.name})`
      });
    }
  });

  commands.addCommand(CommandIDs.openDashboardUrl, {
    label: 'Open a Dask dashboard URL…',
    icon: chartIcon,
    execute: async () => {
      const result = await InputDialog.getText({
        title: 'Open a Dask dashboard',
        label: 'Dashboard URL',
        placeholder: 'e.g. /dask-k8s/dashboard/default/my-cluster/status'
      });
      if (!result.button.accept || !result.value?.trim()) return;
      return commands.execute(CommandIDs.openDashboard, { url: result.value.trim() });
    }
  });

  commands.addCommand(CommandIDs.injectClientCode, {
    label: args =>
      args.isPalette ? 'Insert Dask client code for a cluster into the notebook' : 'Insert client code',
    icon: codeIcon,
    isEnabled: () => hasClusters() && !!ctx.notebooks,
    execute: async args => {
      const cluster = await target(args);
      if (!cluster || !ctx.notebooks) return;
      const notebooks = ctx.notebooks;
      await runAction('Could not insert client code', () => insertClientCode(notebooks, commands, cluster));
    }
  });
}

/** Palette entries for every action. */
export const PALETTE_COMMANDS = [
  CommandIDs.newCluster,
  CommandIDs.refresh,
  CommandIDs.scaleCluster,
  CommandIDs.addWorkerGroup,
  CommandIDs.deleteCluster,
  CommandIDs.showLogs,
  CommandIDs.openClusterDashboard,
  CommandIDs.openDashboardUrl,
  CommandIDs.injectClientCode,
  CommandIDs.openSidebar
];

export const PALETTE_CATEGORY = CATEGORY;

/** Context-menu entries on a cluster card. */
export const CONTEXT_MENU_COMMANDS = [
  CommandIDs.injectClientCode,
  CommandIDs.scaleCluster,
  CommandIDs.addWorkerGroup,
  CommandIDs.openClusterDashboard,
  CommandIDs.showLogs,
  CommandIDs.deleteCluster
];
