{{- define "standin.labels" -}}
app: jupyterhub
release: {{ .Release.Name }}
app.kubernetes.io/name: jupyterhub
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "standin.selector" -}}
app: jupyterhub
release: {{ .root.Release.Name }}
component: {{ .component }}
{{- end }}

{{- /* Pods tolerate kwok's fake nodes, so the same chart runs on a kwok test cluster. */}}
{{- define "standin.tolerations" -}}
- key: kwok.x-k8s.io/node
  operator: Exists
  effect: NoSchedule
{{- with .tolerations }}
{{ toYaml . }}
{{- end }}
{{- end }}
