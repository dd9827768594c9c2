/**
 * The shapes the front end exchanges with the server extension, and the
 * values of its forms.  Types only.
 */

export interface IWorkerGroupStatus {
  name: string;
  requested: number;
  ready: number;
  image: string | null;
}

export interface IAdaptRange {
  minimum: number;
  maximum: number;
}

export interface ICluster {
  name: string;
  namespace: string;
  phase: string;
  reason: string | null;
  worker_groups: IWorkerGroupStatus[];
  workers_requested: number;
  workers_ready: number;
  cores: number;
  memory: number;
  adapt: IAdaptRange | null;
  dashboard_url: string | null;
  scheduler_address: string | null;
  created: string | null;
  /** Deleted when the Jupyter server that created it stops (an owner reference to its pod). */
  stops_with_server?: boolean;
}

export interface IResources {
  requests?: { [key: string]: string };
  limits?: { [key: string]: string };
}

export interface IWorkerGroupRequest {
  name: string;
  n_workers: number;
  image?: string;
  resources?: IResources;
}

export interface ICreateClusterRequest {
  name?: string;
  namespace?: string;
  template?: string;
  image?: string;
  n_workers?: number;
  resources?: IResources;
  env?: { [key: string]: string };
  worker_groups?: IWorkerGroupRequest[];
}

export type StreamMessage =
  | { type: 'snapshot'; clusters: ICluster[]; stale?: string | null }
  | { type: 'updated'; cluster: ICluster }
  | { type: 'deleted'; namespace: string; name: string }
  | { type: 'health'; stale: string | null };

/** The four resource inputs shared by the create and worker-group forms. */
export interface IResourceFormValues {
  cpuRequest: string;
  memoryRequest: string;
  cpuLimit: string;
  memoryLimit: string;
}

/** Values as typed into the create form (all strings, as in the DOM). */
export interface ICreateFormValues extends IResourceFormValues {
  name: string;
  namespace: string;
  template: string;
  image: string;
  workers: string;
  env: string;
}

/** Values as typed into the "Add worker group" form. */
export interface IWorkerGroupFormValues extends IResourceFormValues {
  name: string;
  workers: string;
  image: string;
}

/** A problem with one form field, named the way the server names it. */
export interface IFieldError {
  field: string;
  message: string;
}

export interface IPlot {
  label: string;
  route: string;
}
