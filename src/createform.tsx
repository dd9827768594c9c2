/**
 * The "New cluster" form: name, namespace, template, image, workers,
 * resources and environment.  Errors (found here or by the server) are
 * shown next to the field they concern.
 *
 * The values live in the component's React state: a change renders in the
 * event that made it, so a controlled input never shows an older value than
 * the one typed (values kept outside React were put back until the widget's
 * next update, and fast typing lost characters).
 */
import { Dialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ITemplatesReply } from './api';
import { buildCreateRequest, formFieldFor } from './forms';
import { QuotaPreview } from './quota';
import { descriptionOf, ITemplateSources, IUserTemplate, serverTemplateOf, valuesForChoice } from './templatechoice';
import { ICreateFormValues, IFieldError } from './types';

export type { IUserTemplate } from './templatechoice';

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

/**
 * The dialog's `focusNodeSelector`: the field that has the focus, else the name.  The dialog
 * focuses it only once the body's first render has settled (an idle callback), which can be
 * after the user (or a test) moved to another field; it must not pull the focus back then.
 * The name field takes the focus itself when it mounts.
 */
export const CREATE_FORM_FOCUS =
  '.dk8s-CreateForm :focus, .dk8s-CreateForm:not(:focus-within) input[name="name"]';

export interface ICreateFormOptions {
  templates: ITemplatesReply;
  userTemplates: IUserTemplate[];
  /** The values to start from (a chosen template is not applied again). */
  values: ICreateFormValues;
  /** Which entry of the template menu is chosen: "server:NAME" or "user:NAME". */
  choice: string;
  errors: IFieldError[];
}

/** What the form holds: its values and the chosen template-menu entry. */
export interface ICreateFormState {
  values: ICreateFormValues;
  choice: string;
}

/** The dialog body: a thin Lumino shell around the `CreateForm` component. */
export class CreateClusterForm extends ReactWidget implements Dialog.IBodyWidget<ICreateFormValues> {
  constructor(options: ICreateFormOptions) {
    super();
    this.addClass('dk8s-Form');
    this.addClass('dk8s-CreateForm');
    this._options = options;
    this._state = { values: options.values, choice: options.choice };
  }

  /** The chosen template-menu entry, to reopen the form as it was. */
  get choice(): string {
    return this._state.choice;
  }

  getValue(): ICreateFormValues {
    return { ...this._state.values, template: serverTemplateOf(this._state.choice, this._sources()) };
  }

  protected render(): JSX.Element {
    // The same element type at every update, so React keeps the component and its state.
    return <CreateForm {...this._options} onChange={state => (this._state = state)} />;
  }

  private _sources(): ITemplateSources {
    return { server: this._options.templates.templates, user: this._options.userTemplates };
  }

  private _options: ICreateFormOptions;
  /** A copy of the component's state for `getValue` (the dialog reads it on Create). */
  private _state: ICreateFormState;
}

/** The form; `onChange` hears every change in the event that made it. */
export function CreateForm(
  props: ICreateFormOptions & { onChange: (state: ICreateFormState) => void }
): JSX.Element {
  const { templates, userTemplates, errors, onChange } = props;
  const [state, setState] = React.useState<ICreateFormState>({ values: props.values, choice: props.choice });
  // Changes build on the latest state, even one not rendered yet.
  const latest = React.useRef(state);
  const sources: ITemplateSources = { server: templates.templates, user: userTemplates };
  const { values: v, choice } = state;

  const update = (change: (s: ICreateFormState) => ICreateFormState) => {
    latest.current = change(latest.current);
    setState(latest.current);
    onChange(latest.current);
  };
  const set = (key: keyof ICreateFormValues) => (value: string) =>
    update(s => ({ ...s, values: { ...s.values, [key]: value } }));
  const choose = (next: string) =>
    update(s => ({ choice: next, values: valuesForChoice(s.values, next, sources) }));
  const errorFor = (key: keyof ICreateFormValues) =>
    errors.find(x => formFieldFor(x.field) === key)?.message ?? null;
  const field = (key: keyof ICreateFormValues, label: string, input: IInputProps = {}) => (
    <TextField name={key} label={label} value={v[key]} error={errorFor(key)} onChange={set(key)} input={input} />
  );

  const general = errors.filter(e => formFieldFor(e.field) === null);
  const description = descriptionOf(choice, sources);
  const templateError = errorFor('template');
  const envError = errorFor('env');
  const built = buildCreateRequest({ ...v, template: serverTemplateOf(choice, sources) });
  return (
    <form className="dk8s-FormBody" onSubmit={e => e.preventDefault()}>
      {general.map((e, i) => (
        <div key={i} className="dk8s-Error" role="alert" data-testid="form-error">
          {e.field ? `${e.field}: ` : ''}
          {e.message}
        </div>
      ))}
      <div className="dk8s-Row">
        {field('name', 'Name', { placeholder: 'generated if empty', autoComplete: 'off', autoFocus: true })}
        {field('namespace', 'Namespace', { placeholder: 'server default' })}
      </div>
      <div className={`dk8s-Field${templateError ? ' dk8s-mod-error' : ''}`}>
        <label htmlFor="dk8s-create-template">Template</label>
        <select
          id="dk8s-create-template"
          name="template"
          className="jp-mod-styled"
          value={choice}
          onChange={e => choose(e.currentTarget.value)}
        >
          <option value="">(none: the values below)</option>
          {templates.templates.map(t => (
            <option key={`s-${t.name}`} value={`server:${t.name}`}>
              {t.name}
            </option>
          ))}
          {userTemplates.map(t => (
            <option key={`u-${t.name}`} value={`user:${t.name}`}>
              {t.name} (my settings)
            </option>
          ))}
        </select>
        {description ? <div className="dk8s-Help">{description}</div> : null}
        {templateError ? <div className="dk8s-FieldError" role="alert">{templateError}</div> : null}
      </div>
      {templates.allow_image_choice ? (
        field('image', 'Image', { placeholder: templates.default_image || 'server default' })
      ) : (
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
      {/* The preview waits until the form has no errors of its own. */}
      <QuotaPreview request={built.errors.length ? null : built.request} />
      <div className={`dk8s-Field${envError ? ' dk8s-mod-error' : ''}`}>
        <label htmlFor="dk8s-create-env">Environment (KEY=VALUE per line)</label>
        <textarea
          id="dk8s-create-env"
          name="env"
          className="jp-mod-styled"
          rows={3}
          value={v.env}
          aria-invalid={!!envError}
          onChange={e => set('env')(e.currentTarget.value)}
        />
        {envError ? <div className="dk8s-FieldError" role="alert">{envError}</div> : null}
      </div>
    </form>
  );
}

type IInputProps = React.InputHTMLAttributes<HTMLInputElement>;

/** One labelled input with its error below it. */
function TextField(props: {
  name: keyof ICreateFormValues;
  label: string;
  value: string;
  error: string | null;
  onChange: (value: string) => void;
  input: IInputProps;
}): JSX.Element {
  const { name, label, value, error, onChange, input } = props;
  const id = `dk8s-create-${name}`;
  return (
    <div className={`dk8s-Field${error ? ' dk8s-mod-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={name}
        className="jp-mod-styled jp-InputGroup-input"
        value={value}
        aria-invalid={!!error}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={e => onChange(e.currentTarget.value)}
        {...input}
      />
      {error ? (
        <div id={`${id}-error`} className="dk8s-FieldError" role="alert">
          {error}
        </div>
      ) : null}
    </div>
  );
}
