// Generated from dask_k8s_common.contract.as_json() by
//   python -m dask_k8s_common.contract_ts src/contract.generated.ts
// Do not edit: change common/dask_k8s_common/contract.py and regenerate.
// tests/frontend/test_contract_generated.py fails when this file and the contract drift.

export const CLUSTER_NAME_PATTERN: RegExp = new RegExp("^[a-z]([-a-z0-9]*[a-z0-9])?$");
export const DASHBOARD_PORT = 8787;
export const DEFAULT_WORKER_GROUP = "default";
export const DNS_LABEL_PATTERN: RegExp = new RegExp("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
export const ENV_NAME_PATTERN: RegExp = new RegExp("^[-._a-zA-Z][-._a-zA-Z0-9]*$");
export const FATAL_WAITING_REASONS: readonly string[] = ["CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "ErrImageNeverPull", "InvalidImageName", "RunContainerError"];
export const GROUP = "kubernetes.dask.org";
export const IMAGE_PULL_REASONS: readonly string[] = ["ErrImagePull", "ImagePullBackOff"];
export const LABEL_CLUSTER = "dask.org/cluster-name";
export const LABEL_OWNER = "kubernetes.dask.org/owner";
export const MAX_CLUSTER_NAME = 53;
export const MAX_DNS_LABEL = 63;
export const QUANTITY_PATTERN: RegExp = new RegExp("^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$");
export const RESOURCE_QUANTITY_PATTERN: RegExp = new RegExp("^\\+?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$");
export const SCHEDULER_PORT = 8786;
export const SCHEDULER_SUFFIX = "-scheduler";
export const VERSION = "v1";
export const WORKER_GROUP_NAME_PATTERN: RegExp = new RegExp("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
