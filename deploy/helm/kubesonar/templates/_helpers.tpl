{{/* Name of the DaemonSet, ServiceAccount and RBAC objects. */}}
{{- define "kubesonar.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubesonar.selectorLabels" -}}
app.kubernetes.io/name: kubesonar
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kubesonar.labels" -}}
{{ include "kubesonar.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Metric and event ports, as the agent config sets them. */}}
{{- define "kubesonar.metricPort" -}}
{{- dig "metric_config" "port" 9102 (.Values.config | default (dict)) | int -}}
{{- end -}}
{{- define "kubesonar.eventPort" -}}
{{- dig "event_config" "port" 19102 (.Values.config | default (dict)) | int -}}
{{- end -}}
