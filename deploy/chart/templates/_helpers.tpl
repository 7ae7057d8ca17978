{{- define "ems.fullname" -}}
{{- default "edge-metaserver-cloud" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ems.selectorLabels" -}}
app.kubernetes.io/name: edge-metaserver
app.kubernetes.io/component: cloud-shim
{{- end -}}

{{- define "ems.labels" -}}
{{ include "ems.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
