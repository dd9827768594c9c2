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

import { ApiError } from './api';
import { CommandIDs } from './commandids';
import { CreateClusterForm, EMPTY_FORM, IUserTemplate } from './createform';
import { DashboardPane } from './dashboard';
import { chartIcon, scaleIcon } from './icons';
import {
  buildCreateRequest,
  buildWorkerGroupRequest,
  clusterKey,
  formValuesFromOptions,
  ICluster,
  ICreateFormValues,
  IFieldError,
  validateScale
} from './logic';
import { ClusterLogsView, createLogsPane } from './logs';
import { ClusterModel } from './model';
import { insertClientCode } from './notebook';
import { ScaleForm, scaleValuesFor } from './scaledialog';
import { EMPTY_GROUP, WorkerGroupForm } from './workergroups';

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

function messageOf(error: unknown): string {
  return error instanceof ApiError || error instanceof Error ? error.message : String(error);
}

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
    execute: async () => {
      let templates;
      try {
        templates = await model.api.templates();
      } catch (error) {
        Notification.warning(`Templates unavailable: ${messageOf(error)}`, { autoClose: 5000 });
        templates = { templates: [], default_image: '', allow_image_choice: true };
      }
      const s = ctx.settings();
      const d = s.defaults || {};
      let values: ICreateFormValues = formValuesFromOptions(
        { ...EMPTY_FORM, namespace: d.namespace ?? '' },
        d
      );
      let choice = '';
      const startTemplate = d.template;
      if (startTemplate) {
        if (templates.templates.some(t => t.name === startTemplate)) choice = `server:${startTemplate}`;
        else if (s.templates.some(t => t.name === startTemplate)) choice = `user:${startTemplate}`;
      }
      let errors: IFieldError[] = [];
      let firstRound = true;
      for (;;) {
        const form = new CreateClusterForm({
          templates,
          userTemplates: s.templates || [],
          values,
          choice,
          errors
        });
        if (firstRound && choice) {
          // apply the default template's values once, as if the user picked it
          form.choose(choice);
        }
        firstRound = false;
        const result = await showDialog({
          title: 'New Dask cluster',
          body: form,
          buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Create' })],
          focusNodeSelector: 'input[name="name"]'
        });
        if (!result.button.accept || !result.value) {
          return;
        }
        values = result.value;
        choice = form.choice;
        const built = buildCreateRequest(values);
        if (built.errors.length) {
          errors = built.errors;
          continue;
        }
        try {
          const cluster = await model.api.createCluster(built.request);
          model.upsert(cluster);
          model.select(clusterKey(cluster));
          app.shell.activateById(ctx.sidebarId);
          Notification.info(`Cluster ${cluster.name} is starting in ${cluster.namespace}.`, { autoClose: 4000 });
          return;
        } catch (error) {
          const field = error instanceof ApiError ? error.field : undefined;
          errors = [{ field: field ?? '', message: messageOf(error) }];
        }
      }
    }
  });

  commands.addCommand(CommandIDs.scaleCluster, {
    label: args => (args.isPalette ? 'Scale Dask cluster…' : 'Scale…'),
    icon: scaleIcon,
    isEnabled: hasClusters,
    execute: async args => {
      const cluster = await target(args);
      if (!cluster) return;
      let values = scaleValuesFor(cluster);
      let error: IFieldError | null = null;
      for (;;) {
        const result = await showDialog({
          title: `Scale ${cluster.name}`,
          body: new ScaleForm(cluster, values, error),
          buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Scale' })],
          focusNodeSelector: 'input[type="number"]'
        });
        if (!result.button.accept || !result.value) return;
        values = result.value;
        const checked = validateScale(values);
        if (checked.error || !checked.body) {
          error = checked.error ?? null;
          continue;
        }
        try {
          let updated: ICluster;
          if ('adapt' in checked.body) {
            updated = await model.api.adapt(cluster.namespace, cluster.name, checked.body.adapt);
          } else {
            if (cluster.adapt) {
              await model.api.adapt(cluster.namespace, cluster.name, null);
            }
            updated = await model.api.scale(
              cluster.namespace,
              cluster.name,
              checked.body.workers,
              values.group || undefined
            );
          }
          model.upsert(updated);
          return;
        } catch (e) {
          const field = e instanceof ApiError ? e.field : undefined;
          error = { field: field ?? '', message: messageOf(e) };
        }
      }
    }
  });

  commands.addCommand(CommandIDs.addWorkerGroup, {
    label: args => (args.isPalette ? 'Add a worker group to a Dask cluster…' : 'Add worker group…'),
    icon: addIcon,
    isEnabled: hasClusters,
    execute: async args => {
      const cluster = await target(args);
      if (!cluster) return;
      let values = { ...EMPTY_GROUP };
      let errors: IFieldError[] = [];
      for (;;) {
        const result = await showDialog({
          title: `Add a worker group to ${cluster.name}`,
          body: new WorkerGroupForm(values, errors),
          buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Add' })],
          focusNodeSelector: 'input[name="name"]'
        });
        if (!result.button.accept || !result.value) return;
        values = result.value;
        const built = buildWorkerGroupRequest(values);
        if (built.errors.length) {
          errors = built.errors;
          continue;
        }
        try {
          await model.api.addWorkerGroup(cluster.namespace, cluster.name, built.request);
          return;
        } catch (e) {
          const field = e instanceof ApiError ? e.field : undefined;
          errors = [{ field: field ?? '', message: messageOf(e) }];
        }
      }
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
      const key = clusterKey(cluster);
      try {
        await model.api.deleteWorkerGroup(cluster.namespace, cluster.name, group);
        model.setActionError(key, null);
      } catch (e) {
        const message = `Could not remove worker group ${group}: ${messageOf(e)}`;
        model.setActionError(key, message);
        Notification.error(message, { autoClose: 8000 });
      }
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
      const key = clusterKey(cluster);
      try {
        await model.api.deleteCluster(cluster.namespace, cluster.name);
        model.setActionError(key, null);
        model.remove(cluster.namespace, cluster.name);
      } catch (e) {
        const message = `Could not delete ${cluster.name}: ${messageOf(e)}`;
        model.setActionError(key, message);
        Notification.error(message, { autoClose: 8000 });
      }
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
      try {
        await insertClientCode(ctx.notebooks, commands, cluster);
      } catch (e) {
        Notification.error(`Could not insert client code: ${messageOf(e)}`);
      }
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
