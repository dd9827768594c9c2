/**
 * The create, scale and add-worker-group dialogs: each is shown again with
 * its errors (the form's own, then the server's) until the request succeeds
 * or the user cancels.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';

import { formErrorOf, messageOf } from './actionerror';
import type { ICommandContext } from './commands';
import { CREATE_FORM_FOCUS, CreateClusterForm, EMPTY_FORM } from './createform';
import { buildCreateRequest, buildWorkerGroupRequest, formValuesFromOptions } from './forms';
import { ScaleForm, scaleValuesFor } from './scaledialog';
import { clusterKey } from './stream';
import { choiceFor, valuesForChoice } from './templatechoice';
import { ICluster, ICreateFormValues, IFieldError } from './types';
import { validateScale } from './validation';
import { EMPTY_GROUP, WorkerGroupForm } from './workergroups';

/** Ask for a new cluster and create it; it is selected in the sidebar once the server accepts. */
export async function createClusterDialog(ctx: ICommandContext): Promise<void> {
  const { app, model } = ctx;
  let templates;
  try {
    templates = await model.api.templates();
  } catch (error) {
    Notification.warning(`Templates unavailable: ${messageOf(error)}`, { autoClose: 5000 });
    templates = { templates: [], default_image: '', allow_image_choice: true };
  }
  const s = ctx.settings();
  const d = s.defaults || {};
  let values: ICreateFormValues = formValuesFromOptions({ ...EMPTY_FORM, namespace: d.namespace ?? '' }, d);
  const sources = { server: templates.templates, user: s.templates || [] };
  // The default template fills the form once, as if the user picked it.
  let choice = choiceFor(d.template, sources);
  values = valuesForChoice(values, choice, sources);
  let errors: IFieldError[] = [];
  for (;;) {
    const form = new CreateClusterForm({ templates, userTemplates: sources.user, values, choice, errors });
    const result = await showDialog({
      title: 'New Dask cluster',
      body: form,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Create' })],
      focusNodeSelector: CREATE_FORM_FOCUS
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
      errors = [formErrorOf(error)];
    }
  }
}

/** Ask for a worker count or an adaptive range, and apply it. */
export async function scaleClusterDialog(ctx: ICommandContext, cluster: ICluster): Promise<void> {
  const { model } = ctx;
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
      error = formErrorOf(e);
    }
  }
}

/** Ask for a worker group and add it to the cluster. */
export async function addWorkerGroupDialog(ctx: ICommandContext, cluster: ICluster): Promise<void> {
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
    const built = buildWorkerGroupRequest(values, cluster.name);
    if (built.errors.length) {
      errors = built.errors;
      continue;
    }
    try {
      await ctx.model.api.addWorkerGroup(cluster.namespace, cluster.name, built.request);
      return;
    } catch (e) {
      errors = [formErrorOf(e)];
    }
  }
}
