/**
 * The "New cluster" form: name, namespace, template, image, workers,
 * resources and environment.  Errors (found here or by the server) are
 * shown next to the field they concern.
 */
import { Dialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IClusterTemplate, ITemplatesReply } from './api';
import { buildCreateRequest, formFieldFor, formValuesFromOptions } from './forms';
import { ICreateFormValues, IFieldError } from './types';
import { QuotaPreview } from './quota';

/** A template from the user's settings: form values plus an optional server template. */
export interface IUserTemplate {
  name: string;
  description?: string;
  template?: string;
  image?: string;
  n_workers?: number;
  resources?: { requests?: { [k: string]: string }; limits?: { [k: string]: string } };
  env?: { [k: string]: string };
}

export const EMPTY_FORM: ICreateFormValues = {
  name: '',
  namespace: '',
  template: '',
  image: '',
  workers: '2',
  cpuRequest: '',
  memoryRequest: '',
  cpuLimit: '',
  memoryLimit: '',
  env: ''
};

export interface ICreateFormOptions {
  templates: ITemplatesReply;
  userTemplates: IUserTemplate[];
  values: ICreateFormValues;
  /** Which entry of the template menu is chosen: "server:NAME" or "user:NAME". */
  choice: string;
  errors: IFieldError[];
}

export class CreateClusterForm
  extends ReactWidget
  implements Dialog.IBodyWidget<ICreateFormValues>
{
  constructor(options: ICreateFormOptions) {
    super();
    this.addClass('dk8s-Form');
    this.addClass('dk8s-CreateForm');
    this._options = options;
    this._values = { ...options.values };
    this._choice = options.choice;
  }

  /** The chosen template-menu entry, to reopen the form as it was. */
  get choice(): string {
    return this._choice;
  }

  getValue(): ICreateFormValues {
    return { ...this._values, template: this._serverTemplate() };
  }

  private _serverTemplate(): string {
    if (this._choice.startsWith('server:')) {
      return this._choice.slice('server:'.length);
    }
    if (this._choice.startsWith('user:')) {
      const t = this._findUser(this._choice.slice('user:'.length));
      return t?.template ?? '';
    }
    return '';
  }

  private _findUser(name: string): IUserTemplate | undefined {
    return this._options.userTemplates.find(t => t.name === name);
  }

  private _findServer(name: string): IClusterTemplate | undefined {
    return this._options.templates.templates.find(t => t.name === name);
  }

  choose(choice: string): void {
    this._choice = choice;
    let base = { ...this._values };
    if (choice.startsWith('server:')) {
      const t = this._findServer(choice.slice('server:'.length));
      base = formValuesFromOptions(base, t?.options);
    } else if (choice.startsWith('user:')) {
      const u = this._findUser(choice.slice('user:'.length));
      if (u) {
        const server = u.template ? this._findServer(u.template) : undefined;
        base = formValuesFromOptions(base, server?.options);
        base = formValuesFromOptions(base, u as any);
      }
    }
    this._values = base;
    this.update();
  }

  private _set(key: keyof ICreateFormValues, value: string): void {
    this._values = { ...this._values, [key]: value };
    this.update();
  }

  private _errorFor(key: keyof ICreateFormValues): string | null {
    const e = this._options.errors.find(x => formFieldFor(x.field) === key);
    return e ? e.message : null;
  }

  protected render(): JSX.Element {
    const v = this._values;
    const { templates } = this._options;
    const general = this._options.errors.filter(e => formFieldFor(e.field) === null);
    const description = this._choice.startsWith('server:')
      ? this._findServer(this._choice.slice(7))?.description
      : this._findUser(this._choice.slice(5))?.description;

    const field = (
      key: keyof ICreateFormValues,
      label: string,
      props: React.InputHTMLAttributes<HTMLInputElement> = {}
    ) => {
      const error = this._errorFor(key);
      const id = `dk8s-create-${key}`;
      return (
        <div className={`dk8s-Field${error ? ' dk8s-mod-error' : ''}`}>
          <label htmlFor={id}>{label}</label>
          <input
            id={id}
            name={key}
            className="jp-mod-styled jp-InputGroup-input"
            value={v[key]}
            aria-invalid={!!error}
            aria-describedby={error ? `${id}-error` : undefined}
            onChange={e => this._set(key, e.currentTarget.value)}
            {...props}
          />
          {error ? (
            <div id={`${id}-error`} className="dk8s-FieldError" role="alert">
              {error}
            </div>
          ) : null}
        </div>
      );
    };

    const envError = this._errorFor('env');
    return (
      <form className="dk8s-FormBody" onSubmit={e => e.preventDefault()}>
        {general.map((e, i) => (
          <div key={i} className="dk8s-Error" role="alert" data-testid="form-error">
            {e.field ? `${e.field}: ` : ''}
            {e.message}
          </div>
        ))}
        <div className="dk8s-Row">
          {field('name', 'Name', { placeholder: 'generated if empty', autoComplete: 'off' })}
          {field('namespace', 'Namespace', { placeholder: 'server default' })}
        </div>
        <div className={`dk8s-Field${this._errorFor('template') ? ' dk8s-mod-error' : ''}`}>
          <label htmlFor="dk8s-create-template">Template</label>
          <select
            id="dk8s-create-template"
            name="template"
            className="jp-mod-styled"
            value={this._choice}
            onChange={e => this.choose(e.currentTarget.value)}
          >
            <option value="">(none: the values below)</option>
            {templates.templates.map(t => (
              <option key={`s-${t.name}`} value={`server:${t.name}`}>
                {t.name}
              </option>
            ))}
            {this._options.userTemplates.map(t => (
              <option key={`u-${t.name}`} value={`user:${t.name}`}>
                {t.name} (my settings)
              </option>
            ))}
          </select>
          {description ? <div className="dk8s-Help">{description}</div> : null}
          {this._errorFor('template') ? (
            <div className="dk8s-FieldError" role="alert">{this._errorFor('template')}</div>
          ) : null}
        </div>
        {templates.allow_image_choice
          ? field('image', 'Image', { placeholder: templates.default_image || 'server default' })
          : (
            <div className="dk8s-Help">Image: {templates.default_image || 'server default'}</div>
          )}
        {field('workers', 'Workers', { type: 'number', inputMode: 'numeric' })}
        <fieldset className="dk8s-Fieldset">
          <legend>Worker resources (optional)</legend>
          <div className="dk8s-Row">
            {field('cpuRequest', 'CPU request', { placeholder: 'e.g. 500m' })}
            {field('cpuLimit', 'CPU limit', { placeholder: 'e.g. 1' })}
          </div>
          <div className="dk8s-Row">
            {field('memoryRequest', 'Memory request', { placeholder: 'e.g. 1Gi' })}
            {field('memoryLimit', 'Memory limit', { placeholder: 'e.g. 2Gi' })}
          </div>
        </fieldset>
        <QuotaPreview request={this._previewRequest()} />
        <div className={`dk8s-Field${envError ? ' dk8s-mod-error' : ''}`}>
          <label htmlFor="dk8s-create-env">Environment (KEY=VALUE per line)</label>
          <textarea
            id="dk8s-create-env"
            name="env"
            className="jp-mod-styled"
            rows={3}
            value={v.env}
            aria-invalid={!!envError}
            onChange={e => this._set('env', e.currentTarget.value)}
          />
          {envError ? <div className="dk8s-FieldError" role="alert">{envError}</div> : null}
        </div>
      </form>
    );
  }

  /** The create body for the quota preview, or null while the form has errors of its own. */
  private _previewRequest() {
    const { request, errors } = buildCreateRequest({ ...this._values, template: this._serverTemplate() });
    return errors.length ? null : request;
  }

  private _options: ICreateFormOptions;
  private _values: ICreateFormValues;
  private _choice: string;
}
