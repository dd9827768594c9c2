{{/* Chart name, truncated to 63 characters. */}}
{{- define "dask-k8s-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, prefixed with the chart name unless it contains it. */}}
{{- define "dask-k8s-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dask-k8s-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dask-k8s-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dask-k8s-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dask-k8s-operator.labels" -}}
helm.sh/chart: {{ include "dask-k8s-operator.chart" . }}
{{ include "dask-k8s-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "dask-k8s-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dask-k8s-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator's permissions, shared by the ClusterRole and the Role. Only what the reconcilers do:
read and write the Dask resources and their status, create/patch/delete the pods and services they
own, and post events. No peering, CRD or namespace access: kopf runs standalone with scanning off.
*/}}
{{- define "dask-k8s-operator.rules" -}}
- apiGroups: [kubernetes.dask.org]
  resources: [daskclusters, daskworkergroups, daskjobs, daskautoscalers]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [kubernetes.dask.org]
  resources: [daskclusters/status, daskworkergroups/status, daskjobs/status, daskautoscalers/status]
  verbs: [get, patch]
- apiGroups: [kubernetes.dask.org]
  resources: [daskclusters/finalizers, daskworkergroups/finalizers, daskjobs/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/*
The namespaces the operator watches, one per line; empty when it watches all of them.
*/}}
{{- define "dask-k8s-operator.watchNamespaces" -}}
{{- if .Values.watchNamespaces }}
{{- range .Values.watchNamespaces }}
{{ . }}
{{- end }}
{{- else if not .Values.rbac.cluster }}
{{ .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
kopf's namespace flags: none when kopfArgs already say which namespaces to watch.
*/}}
{{- define "dask-k8s-operator.scopeArgs" -}}
{{- $scoped := false }}
{{- range .Values.kopfArgs }}
{{- $arg := toString . }}
{{- if or (has $arg (list "-A" "--all-namespaces" "-n" "--namespace")) (hasPrefix "--namespace=" $arg) (hasPrefix "-n=" $arg) }}
{{- $scoped = true }}
{{- end }}
{{- end }}
{{- if not $scoped }}
{{- $namespaces := include "dask-k8s-operator.watchNamespaces" . | trim }}
{{- if $namespaces }}
{{- range splitList "\n" $namespaces }}
- --namespace={{ trim . }}
{{- end }}
{{- else }}
- --all-namespaces
{{- end }}
{{- end }}
{{- end }}
