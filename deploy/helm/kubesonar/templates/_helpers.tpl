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

{{/* "true" when both ports serve TLS (a Secret named in secrets.tls, or files set in config.server.tls). */}}
{{- define "kubesonar.tls" -}}
{{- $c := .Values.config | default (dict) -}}
{{- if or .Values.secrets.tls.name (dig "server" "tls" "cert_file" "" $c) -}}true{{- end -}}
{{- end -}}

{{/*
The auth mode of one endpoint as the agent resolves it in a pod: `auto` is bearer with a token
file, else kubernetes (KUBERNETES_SERVICE_HOST is always set in a pod). The defaults are the
agent's (SERVER_SECTION in src/exporters/server-config.ts; a test keeps them equal).
Call with (list . "metrics").
*/}}
{{- define "kubesonar.authMode" -}}
{{- $root := index . 0 -}}
{{- $endpoint := index . 1 -}}
{{- $c := $root.Values.config | default (dict) -}}
{{- $defaults := dict "metrics" "none" "status" "none" "events" "auto" -}}
{{- $mode := dig "server" "auth" $endpoint (get $defaults $endpoint) $c -}}
{{- if eq $mode "auto" -}}
{{- if or $root.Values.secrets.endpointToken.name (dig "server" "bearer_token_file" "" $c) -}}bearer{{- else -}}kubernetes{{- end -}}
{{- else -}}
{{- $mode -}}
{{- end -}}
{{- end -}}

{{/* "true" when some endpoint checks tokens with the API server (the agent then needs the reviews, readers a grant). */}}
{{- define "kubesonar.kubernetesAuth" -}}
{{- $root := . -}}
{{- range $e := list "metrics" "status" "events" -}}
{{- if eq (include "kubesonar.authMode" (list $root $e)) "kubernetes" -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* The scrape endpoint's scheme, TLS and credentials, for the ServiceMonitor (scheme, tlsConfig, auth) and PodMonitor. */}}
{{- define "kubesonar.scrapeTls" -}}
{{- $monitor := index . 1 -}}
{{- $root := index . 0 -}}
{{- if include "kubesonar.tls" $root }}
scheme: https
tlsConfig:
  {{- if $monitor.tlsConfig }}
  {{- toYaml $monitor.tlsConfig | nindent 2 }}
  {{- else }}
  # The certificate must name this Service (a DNS SAN); scrapes address node IPs.
  serverName: {{ printf "%s.%s.svc" (include "kubesonar.fullname" $root) $root.Release.Namespace }}
  ca:
    secret:
      name: {{ $root.Values.secrets.tls.name | required "serviceMonitor/podMonitor with TLS from config.server.tls: set serviceMonitor.tlsConfig (or podMonitor.tlsConfig), or name the Secret in secrets.tls" }}
      key: ca.crt
  {{- end }}
{{- end }}
{{- end -}}
