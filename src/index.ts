/**
 * dask-k8s-lab: JupyterLab front end for Dask clusters on Kubernetes.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { ReadonlyJSONObject } from '@lumino/coreutils';

import { DaskK8sApi } from './api';
import {
  CONTEXT_MENU_COMMANDS,
  ICommandSettings,
  PALETTE_CATEGORY,
  PALETTE_COMMANDS,
  registerCommands
} from './commands';
import { CommandIDs } from './commandids';
import { DashboardPane } from './dashboard';
import { ClusterLogsView } from './logs';
import { ClusterModel } from './model';
import { DaskK8sSidebar } from './sidebar';

const PLUGIN_ID = 'dask-k8s-lab:plugin';
const STATE_KEY = 'dask-k8s-lab:state';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Create, watch, scale and use Dask clusters on Kubernetes from JupyterLab.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer, INotebookTracker, ISettingRegistry, IStateDB],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    settingRegistry: ISettingRegistry | null,
    state: IStateDB | null
  ) => {
    const api = new DaskK8sApi();
    const model = new ClusterModel(api);
    const sidebar = new DaskK8sSidebar(model, app.commands);

    let settings: ICommandSettings = { defaults: {}, templates: [], confirmDelete: true };
    const dashboards = new WidgetTracker<DashboardPane>({ namespace: 'dask-k8s-dashboard' });
    const logs = new WidgetTracker<MainAreaWidget<ClusterLogsView>>({ namespace: 'dask-k8s-logs' });

    registerCommands({
      app,
      model,
      notebooks,
      dashboards,
      logs,
      settings: () => settings,
      sidebarId: sidebar.id
    });

    if (palette) {
      for (const command of PALETTE_COMMANDS) {
        palette.addItem({ command, category: PALETTE_CATEGORY, args: { isPalette: true } });
      }
    }
    CONTEXT_MENU_COMMANDS.forEach((command, rank) =>
      app.contextMenu.addItem({ command, selector: '.dk8s-ClusterItem', rank })
    );

    app.shell.add(sidebar, 'left', { rank: 210 });

    if (restorer) {
      restorer.add(sidebar, sidebar.id);
      void restorer.restore(dashboards, {
        command: CommandIDs.openDashboard,
        args: w => ({ url: w.url, label: w.title.label, mode: 'tab-after' }),
        name: w => w.url
      });
      void restorer.restore(logs, {
        command: CommandIDs.showLogs,
        args: w => ({ namespace: w.content.namespace, name: w.content.name }),
        name: w => `${w.content.namespace}/${w.content.name}`
      });
    }

    if (settingRegistry) {
      void settingRegistry.load(PLUGIN_ID).then(loaded => {
        const apply = () => {
          settings = {
            defaults: (loaded.get('defaults').composite as any) ?? {},
            templates: (loaded.get('templates').composite as any) ?? [],
            confirmDelete: (loaded.get('confirmDelete').composite as boolean) ?? true
          };
          model.refreshInterval = (loaded.get('refreshInterval').composite as number) ?? 5;
        };
        apply();
        loaded.changed.connect(apply);
      }, error => console.warn('dask-k8s-lab: settings not loaded', error));
    }

    // Remember the selected cluster across reloads (the state database is ready
    // only once the app is restored: never wait for it during activation).
    let restoredSelection: string | null = null;
    if (state) {
      void app.restored
        .then(() => state.fetch(STATE_KEY))
        .then(saved => {
          restoredSelection = ((saved as ReadonlyJSONObject | undefined)?.selected as string) ?? null;
          reselect();
          model.selectionChanged.connect(() => {
            void state.save(STATE_KEY, { selected: model.selectedKey });
          });
        })
        .catch(() => undefined);
    }
    const reselect = () => {
      if (restoredSelection && model.loaded) {
        const [ns, name] = restoredSelection.split('/');
        if (model.find(ns, name)) {
          model.select(restoredSelection);
        }
        restoredSelection = null;
        model.changed.disconnect(reselect);
      }
    };
    model.changed.connect(reselect);

    model.start();
  }
};

export default plugin;
