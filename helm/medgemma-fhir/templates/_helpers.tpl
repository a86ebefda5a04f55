{{/* Names */}}
{{- define "medgemma-fhir.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "medgemma-fhir.fullname" -}}
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

{{- define "medgemma-fhir.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "medgemma-fhir.selectorLabels" -}}
app.kubernetes.io/name: {{ include "medgemma-fhir.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "medgemma-fhir.labels" -}}
helm.sh/chart: {{ include "medgemma-fhir.chart" . }}
{{ include "medgemma-fhir.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "medgemma-fhir.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "medgemma-fhir.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image: digest wins; the CUDA build is the same tag with a suffix. */}}
{{- define "medgemma-fhir.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}{{ $repo = printf "%s/%s" .Values.image.registry .Values.image.repository }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.gpu.enabled }}{{ $tag = printf "%s%s" $tag .Values.gpu.imageTagSuffix }}{{ end }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{- define "medgemma-fhir.modelDir" -}}
{{- printf "/models/%s" (default .Values.model.id .Values.model.directory) }}
{{- end }}

{{- define "medgemma-fhir.modelsClaim" -}}
{{- default (printf "%s-models" (include "medgemma-fhir.fullname" .)) .Values.model.persistence.existingClaim }}
{{- end }}

{{- define "medgemma-fhir.pullEnabled" -}}
{{- if and .Values.model.pull.enabled .Values.model.repo }}true{{ end }}
{{- end }}

{{- define "medgemma-fhir.cnpgName" -}}
{{- printf "%s-db" (include "medgemma-fhir.fullname" .) | trunc 50 | trimSuffix "-" }}
{{- end }}

{{/* Which database the server talks to: cnpg, external or h2 (embedded, one replica only). */}}
{{- define "medgemma-fhir.databaseMode" -}}
{{- if .Values.cnpg.enabled }}cnpg{{ else if .Values.externalDatabase.host }}external{{ else }}h2{{ end }}
{{- end }}

{{- define "medgemma-fhir.executionProvider" -}}
{{- default (ternary "cuda" "cpu" .Values.gpu.enabled) .Values.engine.executionProvider }}
{{- end }}

{{/*
Rules the schema cannot express with a clear message. Included by every template that
renders, so `helm template`, `install` and `lint` all refuse.
*/}}
{{- define "medgemma-fhir.validate" -}}
{{- if and .Values.security.enabled (not .Values.security.issuer) (not .Values.security.issuerSecret.name) }}
{{- fail "security.enabled is true but no SMART issuer is set: set security.issuer (or security.issuerSecret.name), or set security.enabled=false explicitly to run without authentication" }}
{{- end }}
{{- if and .Values.security.enabled (not .Values.security.audience) }}
{{- fail "security.enabled is true but no token audience is set: set security.audience to the FHIR base URL the tokens are issued for (for example https://fhir.example.org/fhir); the server refuses to start without it" }}
{{- end }}
{{- $mode := include "medgemma-fhir.databaseMode" . }}
{{- if and (eq $mode "h2") (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) }}
{{- fail "more than one replica needs a shared PostgreSQL: set externalDatabase.host (with externalDatabase.existingSecret) or cnpg.enabled=true" }}
{{- end }}
{{- if and (eq $mode "external") (not .Values.externalDatabase.existingSecret) }}
{{- fail "externalDatabase.host is set but externalDatabase.existingSecret is not: the password is read from an existing Secret only" }}
{{- end }}
{{- if and .Values.cnpg.enabled .Values.externalDatabase.host }}
{{- fail "choose one database: cnpg.enabled or externalDatabase.host, not both" }}
{{- end }}
{{- end }}
