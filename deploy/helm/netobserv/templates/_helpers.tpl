{{/* Name of the DaemonSet, ServiceAccount and RBAC objects. */}}
{{- define "netobserv.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "netobserv.selectorLabels" -}}
app.kubernetes.io/name: netobserv
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "netobserv.labels" -}}
{{ include "netobserv.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Metric and event ports, as the agent config sets them. */}}
{{- define "netobserv.metricPort" -}}
{{- dig "metric_config" "port" 9102 (.Values.config | default (dict)) | int -}}
{{- end -}}
{{- define "netobserv.eventPort" -}}
{{- dig "event_config" "port" 19102 (.Values.config | default (dict)) | int -}}
{{- end -}}
