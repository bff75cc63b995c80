{{/* Names, labels and the shared pieces of the server Deployment and the migration Job. */}}

{{- define "identity.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release name + chart name, unless the release name already contains it; 63 chars is the DNS label limit. */}}
{{- define "identity.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "identity.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "identity.selectorLabels" -}}
app.kubernetes.io/name: {{ include "identity.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "identity.labels" -}}
helm.sh/chart: {{ include "identity.chart" . }}
{{ include "identity.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The server pods only (the migration Job's pods carry component: migration). */}}
{{- define "identity.serverSelectorLabels" -}}
{{ include "identity.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "identity.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "identity.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "identity.secretName" -}}
{{- default (include "identity.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "identity.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* publicUrl's host name: the Ingress rule's host when ingress.hosts is empty. */}}
{{- define "identity.publicHost" -}}
{{- (urlParse .Values.publicUrl).hostname -}}
{{- end -}}

{{/* The non-secret IDENTITY_* settings, as a map: the ConfigMap's data, and the migration Job's env (a
pre-install hook runs before the ConfigMap exists). */}}
{{- define "identity.config" -}}
IDENTITY_ENV: "prod"
IDENTITY_PUBLIC_URL: {{ .Values.publicUrl | trimSuffix "/" | quote }}
IDENTITY_LOG_JSON: {{ .Values.config.logJson | toString | quote }}
IDENTITY_ACCESS_LOG: {{ .Values.config.accessLog | toString | quote }}
IDENTITY_METRICS_PORT: {{ ternary .Values.metrics.port 0 .Values.metrics.enabled | toString | quote }}
IDENTITY_METRICS_TENANTS: {{ join "," .Values.config.metricsTenants | quote }}
IDENTITY_SHUTDOWN_GRACE_SECONDS: {{ .Values.config.shutdownGraceSeconds | toString | quote }}
IDENTITY_PASSWORD_HASH_CONCURRENCY: {{ .Values.config.passwordHashConcurrency | toString | quote }}
IDENTITY_CACHE_SECONDS: {{ .Values.config.cacheSeconds | toString | quote }}
FORWARDED_ALLOW_IPS: {{ .Values.config.forwardedAllowIps | quote }}
{{- range $name, $value := .Values.config.extra }}
IDENTITY_{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* The secret settings, from the chart's Secret or the existing one. */}}
{{- define "identity.secretEnv" -}}
- name: IDENTITY_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "identity.secretName" . }}
      key: {{ .Values.secrets.databaseUrlKey }}
- name: IDENTITY_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "identity.secretName" . }}
      key: {{ .Values.secrets.secretKeyKey }}
{{- end -}}

{{/* Pod and container security contexts: uid 10001 (the image's user), read-only root, nothing extra. */}}
{{- define "identity.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "identity.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Values that JSON Schema cannot relate to each other. */}}
{{- define "identity.checks" -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) (not (include "identity.publicHost" .)) -}}
{{- fail "ingress.enabled needs ingress.hosts or a publicUrl with a host" -}}
{{- end -}}
{{- end -}}
