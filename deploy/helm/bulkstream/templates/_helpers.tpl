{{/* The name of the release's objects: RELEASE-bulkstream, or RELEASE when it already says bulkstream. */}}
{{- define "bulkstream.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bulkstream.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: connector
{{- end -}}

{{- define "bulkstream.labels" -}}
{{ include "bulkstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The Secret the connector's environment comes from. */}}
{{- define "bulkstream.secretName" -}}
{{- if .Values.credentials.existingSecret -}}
{{- .Values.credentials.existingSecret -}}
{{- else if .Values.credentials.values -}}
{{- printf "%s-credentials" (include "bulkstream.fullname" .) -}}
{{- else -}}
{{- fail "credentials: set existingSecret (a Secret managed elsewhere) or values (the chart creates the Secret)" -}}
{{- end -}}
{{- end -}}

{{- define "bulkstream.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
The connector's config.yaml: .Values.config with http.listen on the
container port, batch.spill_dir on the spill volume and, for a
StatefulSet, kafka.instance_id from the pod name (POD_NAME, expanded by the
connector's config loader).
*/}}
{{- define "bulkstream.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $kafka := get $cfg "kafka" | default dict -}}
{{- if eq .Values.workload "StatefulSet" -}}
{{- $_ := set $kafka "instance_id" "${POD_NAME}" -}}
{{- else if eq .Values.workload "Deployment" -}}
{{- if get $kafka "instance_id" -}}
{{- fail "config.kafka.instance_id: a Deployment's pods get new names on every restart and would share or lose their static membership; use workload: StatefulSet, which sets it from the pod name" -}}
{{- end -}}
{{- else -}}
{{- fail (printf "workload: %q is not Deployment or StatefulSet" .Values.workload) -}}
{{- end -}}
{{- $_ := set $cfg "kafka" $kafka -}}
{{- $http := get $cfg "http" | default dict -}}
{{- $_ := set $http "listen" (printf "0.0.0.0:%d" (int .Values.port)) -}}
{{- $_ := set $cfg "http" $http -}}
{{- $batch := get $cfg "batch" | default dict -}}
{{- $_ := set $batch "spill_dir" "/var/lib/bulkstream/spill" -}}
{{- $_ := set $cfg "batch" $batch -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* The pods' service account: the chart's, a given one, or the namespace's default. */}}
{{- define "bulkstream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "bulkstream.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}
