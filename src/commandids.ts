/** Command ids, in one place so widgets can refer to them without cycles. */
export namespace CommandIDs {
  export const newCluster = 'dask-k8s:new-cluster';
  export const refresh = 'dask-k8s:refresh';
  export const scaleCluster = 'dask-k8s:scale-cluster';
  export const addWorkerGroup = 'dask-k8s:add-worker-group';
  export const removeWorkerGroup = 'dask-k8s:remove-worker-group';
  export const deleteCluster = 'dask-k8s:delete-cluster';
  export const showLogs = 'dask-k8s:show-logs';
  export const openClusterDashboard = 'dask-k8s:open-cluster-dashboard';
  export const openDashboard = 'dask-k8s:open-dashboard';
  export const openDashboardUrl = 'dask-k8s:open-dashboard-url';
  export const injectClientCode = 'dask-k8s:inject-client-code';
  export const openSidebar = 'dask-k8s:open-sidebar';
}
