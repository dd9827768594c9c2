/** The "Add worker group" form. */
import { Dialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IFieldError, IWorkerGroupFormValues } from './types';

export type IWorkerGroupValues = IWorkerGroupFormValues;

export const EMPTY_GROUP: IWorkerGroupValues = {
  name: '',
  workers: '1',
  image: '',
  cpuRequest: '',
  memoryRequest: '',
  cpuLimit: '',
  memoryLimit: ''
};

const LABELS: { [K in keyof IWorkerGroupValues]: string } = {
  name: 'Group name',
  workers: 'Workers',
  image: 'Image (optional)',
  cpuRequest: 'CPU request',
  memoryRequest: 'Memory request',
  cpuLimit: 'CPU limit',
  memoryLimit: 'Memory limit'
};

const FIELD_OF: { [server: string]: keyof IWorkerGroupValues } = {
  name: 'name',
  n_workers: 'workers',
  image: 'image',
  'resources.requests.cpu': 'cpuRequest',
  'resources.requests.memory': 'memoryRequest',
  'resources.limits.cpu': 'cpuLimit',
  'resources.limits.memory': 'memoryLimit'
};

export class WorkerGroupForm
  extends ReactWidget
  implements Dialog.IBodyWidget<IWorkerGroupValues>
{
  constructor(values: IWorkerGroupValues, private readonly errors: IFieldError[]) {
    super();
    this.addClass('dk8s-Form');
    this._values = { ...values };
  }

  getValue(): IWorkerGroupValues {
    return { ...this._values };
  }

  protected render(): JSX.Element {
    const general = this.errors.filter(e => !FIELD_OF[e.field]);
    const input = (key: keyof IWorkerGroupValues, props: React.InputHTMLAttributes<HTMLInputElement> = {}) => {
      const error = this.errors.find(e => FIELD_OF[e.field] === key);
      return (
        <div className={`dk8s-Field${error ? ' dk8s-mod-error' : ''}`}>
          <label htmlFor={`dk8s-group-${key}`}>{LABELS[key]}</label>
          <input
            id={`dk8s-group-${key}`}
            name={key}
            className="jp-mod-styled"
            value={this._values[key]}
            onChange={e => {
              this._values = { ...this._values, [key]: e.currentTarget.value };
              this.update();
            }}
            {...props}
          />
          {error ? <div className="dk8s-FieldError" role="alert">{error.message}</div> : null}
        </div>
      );
    };
    return (
      <form className="dk8s-FormBody" onSubmit={e => e.preventDefault()}>
        {general.map((e, i) => (
          <div key={i} className="dk8s-Error" role="alert">{e.message}</div>
        ))}
        <div className="dk8s-Row">
          {input('name', { placeholder: 'e.g. highmem', autoComplete: 'off' })}
          {input('workers', { type: 'number', inputMode: 'numeric' })}
        </div>
        {input('image', { placeholder: "the cluster's image" })}
        <div className="dk8s-Row">
          {input('cpuRequest', { placeholder: 'e.g. 500m' })}
          {input('cpuLimit', { placeholder: 'e.g. 1' })}
        </div>
        <div className="dk8s-Row">
          {input('memoryRequest', { placeholder: 'e.g. 1Gi' })}
          {input('memoryLimit', { placeholder: 'e.g. 2Gi' })}
        </div>
      </form>
    );
  }

  private _values: IWorkerGroupValues;
}
