/**
 * The scale dialog: a fixed number of workers (for the whole cluster or one
 * worker group), or adaptive scaling between a minimum and a maximum.
 */
import { Dialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { DEFAULT_WORKER_GROUP } from './contract.generated';
import { ICluster, IFieldError } from './types';

export interface IScaleValues {
  adaptive: boolean;
  workers: string;
  group: string;
  minimum: string;
  maximum: string;
}

export function scaleValuesFor(cluster: ICluster): IScaleValues {
  const defaultGroup = cluster.worker_groups.find(g => g.name === DEFAULT_WORKER_GROUP);
  const group = cluster.worker_groups.length > 1 ? defaultGroup?.name ?? cluster.worker_groups[0].name : '';
  const current = group
    ? cluster.worker_groups.find(g => g.name === group)!.requested
    : cluster.workers_requested;
  return {
    adaptive: !!cluster.adapt,
    workers: String(current),
    group,
    minimum: String(cluster.adapt?.minimum ?? Math.min(1, current)),
    maximum: String(cluster.adapt?.maximum ?? Math.max(current, 4))
  };
}

export class ScaleForm extends ReactWidget implements Dialog.IBodyWidget<IScaleValues> {
  constructor(
    private readonly cluster: ICluster,
    values: IScaleValues,
    private readonly error: IFieldError | null
  ) {
    super();
    this.addClass('dk8s-Form');
    this.addClass('dk8s-ScaleForm');
    this._values = { ...values };
  }

  getValue(): IScaleValues {
    return { ...this._values };
  }

  private _set<K extends keyof IScaleValues>(key: K, value: IScaleValues[K]): void {
    this._values = { ...this._values, [key]: value };
    if (key === 'group' && !this._values.adaptive) {
      const g = this.cluster.worker_groups.find(x => x.name === value);
      this._values.workers = String(g ? g.requested : this.cluster.workers_requested);
    }
    this.update();
  }

  protected render(): JSX.Element {
    const v = this._values;
    const err = (field: string) =>
      this.error && this.error.field === field ? (
        <div className="dk8s-FieldError" role="alert">{this.error.message}</div>
      ) : null;
    const groups = this.cluster.worker_groups;
    return (
      <form className="dk8s-FormBody" onSubmit={e => e.preventDefault()}>
        {this.error && !['workers', 'minimum', 'maximum'].includes(this.error.field) ? (
          <div className="dk8s-Error" role="alert">{this.error.message}</div>
        ) : null}
        <div className="dk8s-Field dk8s-Check">
          <input
            id="dk8s-scale-adaptive"
            type="checkbox"
            checked={v.adaptive}
            onChange={e => this._set('adaptive', e.currentTarget.checked)}
          />
          <label htmlFor="dk8s-scale-adaptive">Adaptive: let Dask choose the number of workers</label>
        </div>
        {!v.adaptive ? (
          <>
            {groups.length > 1 ? (
              <div className="dk8s-Field">
                <label htmlFor="dk8s-scale-group">Worker group</label>
                <select
                  id="dk8s-scale-group"
                  className="jp-mod-styled"
                  value={v.group}
                  onChange={e => this._set('group', e.currentTarget.value)}
                >
                  {groups.map(g => (
                    <option key={g.name} value={g.name}>
                      {g.name} ({g.ready}/{g.requested})
                    </option>
                  ))}
                </select>
              </div>
            ) : null}
            <div className={`dk8s-Field${this.error?.field === 'workers' ? ' dk8s-mod-error' : ''}`}>
              <label htmlFor="dk8s-scale-workers">Workers</label>
              <input
                id="dk8s-scale-workers"
                name="workers"
                type="number"
                className="jp-mod-styled"
                value={v.workers}
                onChange={e => this._set('workers', e.currentTarget.value)}
              />
              {err('workers')}
            </div>
          </>
        ) : (
          <div className="dk8s-Row">
            <div className={`dk8s-Field${this.error?.field === 'minimum' ? ' dk8s-mod-error' : ''}`}>
              <label htmlFor="dk8s-scale-minimum">Minimum</label>
              <input
                id="dk8s-scale-minimum"
                name="minimum"
                type="number"
                className="jp-mod-styled"
                value={v.minimum}
                onChange={e => this._set('minimum', e.currentTarget.value)}
              />
              {err('minimum')}
            </div>
            <div className={`dk8s-Field${this.error?.field === 'maximum' ? ' dk8s-mod-error' : ''}`}>
              <label htmlFor="dk8s-scale-maximum">Maximum</label>
              <input
                id="dk8s-scale-maximum"
                name="maximum"
                type="number"
                className="jp-mod-styled"
                value={v.maximum}
                onChange={e => this._set('maximum', e.currentTarget.value)}
              />
              {err('maximum')}
            </div>
          </div>
        )}
      </form>
    );
  }

  private _values: IScaleValues;
}
