{{- define "valetkey.fullname" -}}{{ .Release.Name }}-valetkey{{- end -}}
{{- define "valetkey.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}
{{- define "valetkey.labels" -}}
app.kubernetes.io/name: valetkey
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
