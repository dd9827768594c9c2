/**
 * The sidebar's state: the clusters the server reports, which one is
 * selected, and whether the live stream is up.  The stream is the source of
 * truth; when it is down the list falls back to polling.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ApiError, ClusterStream, DaskK8sApi, StreamState } from './api';
import { applyStreamMessage, clusterKey, sortedClusters, staleAfter } from './stream';
import { ICluster, StreamMessage } from './types';

export class ClusterModel {
  constructor(readonly api: DaskK8sApi) {
    this._stream = new ClusterStream(api);
    this._stream.message.connect((_, msg) => this._apply(msg));
    this._stream.stateChanged.connect((_, state) => this._onStreamState(state));
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Sorted; the same array until the list changes (views compare it by identity). */
  get clusters(): ICluster[] {
    if (!this._sorted) {
      this._sorted = sortedClusters(this._clusters);
    }
    return this._sorted;
  }

  /** Whether the list has been loaded at least once. */
  get loaded(): boolean {
    return this._loaded;
  }

  get streamState(): StreamState {
    return this._stream.state;
  }

  /** Why the server's list may be out of date (its watch of Kubernetes fails), or null. */
  get stale(): string | null {
    return this._stale;
  }

  /** The last error talking to the server, cleared by the next success. */
  get error(): string | null {
    return this._error;
  }

  get selectedKey(): string | null {
    return this._selected;
  }

  get selected(): ICluster | null {
    return this._selected ? this._clusters.get(this._selected) ?? null : null;
  }

  get selectionChanged(): ISignal<this, ICluster | null> {
    return this._selectionChanged;
  }

  find(namespace: string, name: string): ICluster | null {
    return this._clusters.get(clusterKey({ namespace, name })) ?? null;
  }

  /** The last failed action on a cluster, shown on its card until dismissed. */
  actionError(key: string): string | null {
    return this._actionErrors.get(key) ?? null;
  }

  setActionError(key: string, message: string | null): void {
    if (message) {
      this._actionErrors.set(key, message);
    } else {
      this._actionErrors.delete(key);
    }
    this._changed.emit();
  }

  select(key: string | null): void {
    if (key === this._selected) {
      return;
    }
    this._selected = key;
    this._selectionChanged.emit(this.selected);
    this._changed.emit();
  }

  /** Seconds between polls while the stream is down. */
  set refreshInterval(seconds: number) {
    this._refreshSeconds = Math.max(1, seconds || 5);
    this._schedulePoll();
  }

  start(): void {
    this._stream.start();
    void this.refresh();
  }

  dispose(): void {
    this._stream.stop();
    if (this._poll) clearTimeout(this._poll);
  }

  /** Fetch the list now (also the fallback while the stream is down). */
  async refresh(): Promise<void> {
    try {
      const { clusters, stale } = await this.api.listClusters();
      this._apply({ type: 'snapshot', clusters, stale });
    } catch (error) {
      this._setError(error instanceof ApiError ? error.message : String(error));
    }
  }

  /** Record a cluster the server just returned (e.g. from a PATCH). */
  upsert(cluster: ICluster): void {
    this._apply({ type: 'updated', cluster });
  }

  remove(namespace: string, name: string): void {
    this._apply({ type: 'deleted', namespace, name });
  }

  private _apply(msg: StreamMessage): void {
    const clusters = applyStreamMessage(this._clusters, msg);
    if (clusters !== this._clusters) {
      this._clusters = clusters;
      this._sorted = null;
    }
    this._stale = staleAfter(this._stale, msg);
    this._loaded = true;
    this._error = null;
    if (this._selected && !this._clusters.has(this._selected)) {
      this._selected = null;
      this._selectionChanged.emit(null);
    }
    this._changed.emit();
  }

  private _setError(message: string): void {
    this._error = message;
    this._changed.emit();
  }

  private _onStreamState(state: StreamState): void {
    this._schedulePoll();
    this._changed.emit();
    if (state === 'live') {
      this._error = null;
    }
  }

  private _schedulePoll(): void {
    if (this._poll) {
      clearTimeout(this._poll);
      this._poll = null;
    }
    if (this._stream.state === 'live') {
      return;
    }
    this._poll = setTimeout(async () => {
      this._poll = null;
      if (this._stream.state !== 'live') {
        await this.refresh();
        this._schedulePoll();
      }
    }, this._refreshSeconds * 1000);
  }

  private _clusters = new Map<string, ICluster>();
  private _actionErrors = new Map<string, string>();
  private _loaded = false;
  private _error: string | null = null;
  private _stale: string | null = null;
  private _selected: string | null = null;
  private _refreshSeconds = 5;
  private _poll: ReturnType<typeof setTimeout> | null = null;
  private _sorted: ICluster[] | null = null;
  private _stream: ClusterStream;
  private _changed = new Signal<this, void>(this);
  private _selectionChanged = new Signal<this, ICluster | null>(this);
}
