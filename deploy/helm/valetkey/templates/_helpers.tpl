{{- define "valetkey.fullname" -}}{{ .Release.Name }}-valetkey{{- end -}}
{{- define "valetkey.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}
{{- define "valetkey.serviceAccount" -}}{{ .Values.serviceAccount.name | default (include "valetkey.fullname" .) }}{{- end -}}

{{- define "valetkey.labels" -}}
app.kubernetes.io/name: valetkey
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- /* The labels that select one service's pods: (list $ "token-refresher"). */ -}}
{{- define "valetkey.selector" -}}
app.kubernetes.io/name: valetkey
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- /*
What each service is, fixed by the chart and not by values, because it is the security boundary:
which keys it receives (the gateway never the root key), whether it serves the public HTTP API,
talks to Redis, or calls the internet.
*/ -}}
{{- define "valetkey.roles" -}}
gateway: {http: true, keys: [api, bus], redis: false, internet: false, oidcSecret: false}
authorizer: {http: false, keys: [bus, root], redis: true, internet: true, oidcSecret: true}
token_refresher: {http: false, keys: [bus, root], redis: true, internet: true, oidcSecret: false}
executor: {http: false, keys: [bus, root], redis: true, internet: true, oidcSecret: false}
webhooks: {http: false, keys: [bus, webhook], redis: true, internet: true, oidcSecret: false}
{{- end -}}

{{- define "valetkey.keyEnv" -}}
api: VALETKEY_API_KEY
bus: VALETKEY_BUS_KEY
root: VALETKEY_ROOT_KEY
webhook: VALETKEY_WEBHOOK_KEY
{{- end -}}

{{- /*
The effective settings of one service, `default` overridden key by key at every depth by
`services.<name>`: (list $ "token_refresher"); prints YAML.
*/ -}}
{{- define "valetkey.service" -}}
{{- $root := index . 0 -}}
{{- $override := index $root.Values.services (index . 1) | default dict -}}
{{- mergeOverwrite (deepCopy $root.Values.default) (deepCopy $override) | toYaml -}}
{{- end -}}

{{- /* The services that are on, in a fixed order: a list of names. */ -}}
{{- define "valetkey.enabledServices" -}}
{{- $names := list -}}
{{- range $name := list "gateway" "authorizer" "token_refresher" "executor" "webhooks" -}}
{{- $svc := include "valetkey.service" (list $ $name) | fromYaml -}}
{{- if $svc.enabled -}}{{- $names = append $names $name -}}{{- end -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{- /* The port that serves /metrics, /livez and /readyz: the gateway's HTTP port, the others' ops port. */ -}}
{{- define "valetkey.opsPortName" -}}{{ if eq . "gateway" }}http{{ else }}ops{{ end }}{{- end -}}
