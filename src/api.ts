/**
 * Client of the server extension's REST routes and cluster stream.
 * Every call goes through ServerConnection, which adds the base URL, the
 * token and the XSRF header.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import {
  IAdaptRange,
  ICluster,
  ICreateClusterRequest,
  IWorkerGroupRequest,
  StreamMessage
} from './types';

import { IPermissionsReply } from './permissions';

export * from './types';

export interface IClusterTemplate {
  name: string;
  description: string;
  options: { [key: string]: any };
}

export interface ITemplatesReply {
  templates: IClusterTemplate[];
  default_image: string;
  allow_image_choice: boolean;
}

export interface IClusterEvent {
  type: string;
  reason: string;
  message: string;
  object: string;
  time: string | null;
}

/** An error reply from the server: its message, status and the field at fault. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly field?: string
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const ROOT = 'dask-k8s';

/** The readable text of an HTML error page (or the text itself), kept short. */
function textOfPage(text: string): string {
  let out = text;
  if (/^\s*</.test(text) && typeof DOMParser !== 'undefined') {
    const doc = new DOMParser().parseFromString(text, 'text/html');
    doc.querySelectorAll('script, style, head, nav, header').forEach(n => n.remove());
    out = doc.body?.textContent ?? '';
  }
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > 300 ? out.slice(0, 297) + '…' : out;
}

function clusterPath(namespace: string, name: string, ...rest: string[]): string {
  return URLExt.join(
    ROOT,
    'clusters',
    encodeURIComponent(namespace),
    encodeURIComponent(name),
    ...rest.map(encodeURIComponent)
  );
}

export class DaskK8sApi {
  readonly settings: ServerConnection.ISettings;

  constructor(settings?: ServerConnection.ISettings) {
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  /** Call a route under the base URL and decode its JSON reply. */
  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = path.startsWith('/')
      ? new URL(path, this.settings.baseUrl).href
      : URLExt.join(this.settings.baseUrl, path);
    if (init.body !== undefined && !(init.headers as any)?.['Content-Type']) {
      init.headers = { ...(init.headers || {}), 'Content-Type': 'application/json' };
    }
    let response: Response;
    const idempotent = !init.method || init.method === 'GET';
    for (let attempt = 0; ; attempt++) {
      try {
        response = await ServerConnection.makeRequest(url, init, this.settings);
        break;
      } catch (error) {
        // A dropped connection (e.g. the browser saw the network change) is retried once
        // for reads; writes are never repeated behind the user's back.
        if (idempotent && attempt === 0) {
          await new Promise(resolve => setTimeout(resolve, 500));
          continue;
        }
        throw new ApiError(
          `Cannot reach the Jupyter server (${(error as Error).message}).`,
          0
        );
      }
    }
    if (response.status === 204) {
      return undefined as T;
    }
    const text = await response.text();
    let data: any = undefined;
    let json = false;
    if (text) {
      try {
        data = JSON.parse(text);
        json = true;
      } catch {
        data = { message: textOfPage(text) };
      }
    }
    if (!response.ok) {
      let message = data?.message || `HTTP ${response.status} ${response.statusText}`.trim();
      if (response.status === 404 && !json && !path.startsWith('/')) {
        // Jupyter's own 404 page, not an answer of ours: the routes are not there at all.
        message =
          'The dask-k8s-lab server extension does not answer (404): is it installed and ' +
          'enabled? See `jupyter server extension list`.';
      }
      throw new ApiError(message, response.status, data?.field ?? undefined);
    }
    return data as T;
  }

  /** The clusters, and why the list may be out of date (null when current). */
  listClusters(): Promise<{ clusters: ICluster[]; stale: string | null }> {
    return this.request<{ clusters: ICluster[]; stale: string | null }>(URLExt.join(ROOT, 'clusters'));
  }

  createCluster(body: ICreateClusterRequest): Promise<ICluster> {
    return this.request<ICluster>(URLExt.join(ROOT, 'clusters'), {
      method: 'POST',
      body: JSON.stringify(body)
    });
  }

  getCluster(namespace: string, name: string): Promise<ICluster> {
    return this.request<ICluster>(clusterPath(namespace, name));
  }

  scale(namespace: string, name: string, workers: number, workerGroup?: string): Promise<ICluster> {
    const body: { workers: number; worker_group?: string } = { workers };
    if (workerGroup) {
      body.worker_group = workerGroup;
    }
    return this.request<ICluster>(clusterPath(namespace, name), {
      method: 'PATCH',
      body: JSON.stringify(body)
    });
  }

  adapt(namespace: string, name: string, range: IAdaptRange | null): Promise<ICluster> {
    return this.request<ICluster>(clusterPath(namespace, name), {
      method: 'PATCH',
      body: JSON.stringify({ adapt: range })
    });
  }

  deleteCluster(namespace: string, name: string): Promise<void> {
    return this.request<void>(clusterPath(namespace, name), { method: 'DELETE' });
  }

  addWorkerGroup(namespace: string, name: string, group: IWorkerGroupRequest): Promise<unknown> {
    return this.request<unknown>(clusterPath(namespace, name, 'worker-groups'), {
      method: 'POST',
      body: JSON.stringify(group)
    });
  }

  deleteWorkerGroup(namespace: string, name: string, group: string): Promise<void> {
    return this.request<void>(clusterPath(namespace, name, 'worker-groups', group), {
      method: 'DELETE'
    });
  }

  async logs(namespace: string, name: string): Promise<{ [pod: string]: string }> {
    const reply = await this.request<{ logs: { [pod: string]: string } }>(
      clusterPath(namespace, name, 'logs')
    );
    return reply.logs;
  }

  async events(namespace: string, name: string): Promise<IClusterEvent[]> {
    const reply = await this.request<{ events: IClusterEvent[] }>(
      clusterPath(namespace, name, 'events')
    );
    return reply.events;
  }

  /** What the server's account may do, in `namespace` or in every namespace it manages. */
  permissions(namespace?: string): Promise<IPermissionsReply> {
    const query = namespace ? `?namespace=${encodeURIComponent(namespace)}` : '';
    return this.request<IPermissionsReply>(URLExt.join(ROOT, 'permissions') + query);
  }

  templates(): Promise<ITemplatesReply> {
    return this.request<ITemplatesReply>(URLExt.join(ROOT, 'templates'));
  }

  /** Fetch a JSON document by absolute path (e.g. a dashboard's plot list). */
  getJson<T>(absolutePath: string): Promise<T> {
    return this.request<T>(absolutePath);
  }

  /** WebSocket URL of the cluster stream, with the token when the server wants one. */
  streamUrl(): string {
    let url = URLExt.join(this.settings.wsUrl, ROOT, 'stream');
    const token = this.settings.token;
    if (token && this.settings.appendToken) {
      url += `?token=${encodeURIComponent(token)}`;
    }
    return url;
  }
}

export type StreamState = 'connecting' | 'live' | 'closed';

/**
 * The server's cluster stream, reconnecting with backoff.  A fresh snapshot
 * arrives after every (re)connect, so nothing is lost across drops.
 */
export class ClusterStream {
  constructor(private readonly api: DaskK8sApi) {}

  get message(): ISignal<this, StreamMessage> {
    return this._message;
  }

  get stateChanged(): ISignal<this, StreamState> {
    return this._stateChanged;
  }

  get state(): StreamState {
    return this._state;
  }

  start(): void {
    this._stopped = false;
    this._connect();
  }

  stop(): void {
    this._stopped = true;
    if (this._timer) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    this._socket?.close();
    this._socket = null;
    this._setState('closed');
  }

  private _connect(): void {
    if (this._stopped) {
      return;
    }
    this._setState('connecting');
    let socket: WebSocket;
    try {
      socket = new this.api.settings.WebSocket(this.api.streamUrl());
    } catch {
      this._retry();
      return;
    }
    this._socket = socket;
    socket.onmessage = event => {
      let msg: StreamMessage;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg.type === 'snapshot') {
        this._delay = 1000;
        this._setState('live');
      }
      this._message.emit(msg);
    };
    socket.onclose = () => {
      if (this._socket === socket) {
        this._socket = null;
        this._setState('closed');
        this._retry();
      }
    };
    socket.onerror = () => {
      /* onclose follows */
    };
  }

  private _retry(): void {
    if (this._stopped || this._timer) {
      return;
    }
    const delay = this._delay;
    this._delay = Math.min(this._delay * 2, 30000);
    this._timer = setTimeout(() => {
      this._timer = null;
      this._connect();
    }, delay);
  }

  private _setState(state: StreamState): void {
    if (state !== this._state) {
      this._state = state;
      this._stateChanged.emit(state);
    }
  }

  private _socket: WebSocket | null = null;
  private _state: StreamState = 'closed';
  private _stopped = true;
  private _delay = 1000;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _message = new Signal<this, StreamMessage>(this);
  private _stateChanged = new Signal<this, StreamState>(this);
}
