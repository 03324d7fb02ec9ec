{{- /*
_common.tpl: helpers shared by every AccessBridge chart. The canonical copy is
deploy/helm/_common.tpl; each chart's templates/_common.tpl is an identical
copy (a test checks it; `make helm` copies it). Named templates take the
root context.
*/ -}}

{{- define "ab.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ab.fullname" -}}
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

{{- define "ab.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ab.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ab.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "ab.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: accessbridge
{{- end -}}

{{- define "ab.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- /* The address of the NATS chart's client Service (its fullname rule). */ -}}
{{- define "ab.natsChartURL" -}}
{{- $nats := .Values.nats -}}
{{- $name := default "nats" $nats.nameOverride -}}
{{- $full := "" -}}
{{- if $nats.fullnameOverride -}}{{- $full = $nats.fullnameOverride -}}
{{- else if contains $name .Release.Name -}}{{- $full = .Release.Name -}}
{{- else -}}{{- $full = printf "%s-%s" .Release.Name $name -}}
{{- end -}}
nats://{{ $full | trunc 63 | trimSuffix "-" }}:4222
{{- end -}}

{{- /* NATS_URL: nats.url, else the NATS chart's Service; "" when neither (the all-in-one embeds NATS). */ -}}
{{- define "ab.natsURL" -}}
{{- if .Values.nats.url -}}{{ .Values.nats.url }}
{{- else if .Values.nats.enabled -}}{{ include "ab.natsChartURL" . }}
{{- end -}}
{{- end -}}

{{- /*
ab.validate: every missing or contradictory value at once, each with its fix
(dict "root" and the parts, as ab.volumes). "nats" true: NATS must be given.
*/ -}}
{{- define "ab.validate" -}}
{{- $r := .root -}}
{{- $v := $r.Values -}}
{{- $errs := list -}}
{{- if and .nats (not (include "ab.natsURL" $r)) -}}
{{- $errs = append $errs "nats.url: set the NATS server's URL (nats://host:4222), or nats.enabled=true to install the NATS chart with this release" -}}
{{- end -}}
{{- if .teleport -}}
{{- if not $v.teleport.address -}}
{{- $errs = append $errs "teleport.address: set the Teleport Auth (host:3025) or Proxy (host:443) address" -}}
{{- end -}}
{{- if not ($v.teleport.identitySecretName | default $v.teleport.identityFromSecret) -}}
{{- $errs = append $errs "teleport.identitySecretName: name the Secret holding the plugin's identity file (kubectl create secret generic teleport-plugin-jira-identity --from-file=auth_id=identity)" -}}
{{- end -}}
{{- if not (has $v.teleport.decisionMode (list "state" "review")) -}}
{{- $errs = append $errs (printf "teleport.decisionMode: %q is neither state nor review" $v.teleport.decisionMode) -}}
{{- end -}}
{{- end -}}
{{- if .jira -}}
{{- if not $v.jira.url -}}
{{- $errs = append $errs "jira.url: set the Jira base URL, e.g. https://example.atlassian.net" -}}
{{- end -}}
{{- if not (or $v.jira.apiTokenFromSecret $v.jira.apiToken) -}}
{{- $errs = append $errs "jira.apiTokenFromSecret: name the Secret holding the Jira API token (or set jira.apiToken)" -}}
{{- end -}}
{{- end -}}
{{- if .webhook -}}
{{- if not (or $v.webhook.secretFromSecret $v.webhook.secret) -}}
{{- $errs = append $errs "webhook.secretFromSecret: name the Secret holding the Jira webhook's HMAC secret (or set webhook.secret)" -}}
{{- end -}}
{{- if and $v.http.tlsFromSecret $v.http.insecureNoTLS -}}
{{- $errs = append $errs "http.insecureNoTLS: unset it, or http.tlsFromSecret: the endpoint serves either TLS or plain HTTP" -}}
{{- else if not (or $v.http.tlsFromSecret $v.http.insecureNoTLS) -}}
{{- $errs = append $errs "http.tlsFromSecret: name the TLS Secret of the webhook endpoint, or set http.insecureNoTLS=true when an Ingress terminates TLS" -}}
{{- end -}}
{{- end -}}
{{- if .mattermost -}}
{{- if not $v.mattermost.url -}}
{{- $errs = append $errs "mattermost.url: set the Mattermost server URL, e.g. https://mattermost.example.com" -}}
{{- end -}}
{{- if not (or $v.mattermost.tokenFromSecret $v.mattermost.token) -}}
{{- $errs = append $errs "mattermost.tokenFromSecret: name the Secret holding the Mattermost bot's access token (or set mattermost.token)" -}}
{{- end -}}
{{- end -}}
{{- if $errs -}}
{{- fail (printf "\n  %s" (join "\n  " $errs)) -}}
{{- end -}}
{{- end -}}

{{- define "ab.env.common" -}}
- name: LOG_LEVEL
  value: {{ .Values.log.severity | lower | quote }}
- name: LOG_FORMAT
  value: {{ .Values.log.format | quote }}
{{- with include "ab.natsURL" . }}
- name: NATS_URL
  value: {{ . | quote }}
{{- end }}
- name: NATS_REPLICAS
  value: {{ .Values.nats.streamReplicas | quote }}
{{- if .Values.nats.credsFromSecret }}
- name: NATS_CREDS_FILE
  value: /var/run/accessbridge/nats/{{ .Values.nats.credsSecretPath }}
{{- end }}
{{- end -}}

{{- define "ab.env.extra" -}}
{{- range $k, $v := .Values.extraEnv }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}

{{- define "ab.identitySecret" -}}
{{- $s := .Values.teleport.identitySecretName | default .Values.teleport.identityFromSecret -}}
{{- required "teleport.identitySecretName: name the Secret holding the plugin's identity file (kubectl create secret generic teleport-plugin-jira-identity --from-file=auth_id=identity)" $s -}}
{{- end -}}

{{- define "ab.env.teleport" -}}
- name: TELEPORT_BRIDGE_ADDR
  value: {{ required "teleport.address: set the Teleport Auth (host:3025) or Proxy (host:443) address" .Values.teleport.address | quote }}
- name: TELEPORT_BRIDGE_IDENTITY_FILE
  value: /var/run/accessbridge/teleport-identity/{{ .Values.teleport.identitySecretPath }}
- name: TELEPORT_BRIDGE_DECISION_MODE
  value: {{ .Values.teleport.decisionMode | quote }}
{{- end -}}

{{- define "ab.jiraTokenSecret" -}}
{{- if .Values.jira.apiTokenFromSecret -}}{{ .Values.jira.apiTokenFromSecret }}
{{- else if .Values.jira.apiToken -}}{{ include "ab.fullname" . }}-secrets
{{- else -}}{{- fail "jira.apiTokenFromSecret: name the Secret holding the Jira API token (or set jira.apiToken)" -}}
{{- end -}}
{{- end -}}

{{- define "ab.env.jira" -}}
- name: JIRA_BRIDGE_URL
  value: {{ required "jira.url: set the Jira base URL, e.g. https://example.atlassian.net" .Values.jira.url | quote }}
- name: JIRA_BRIDGE_USER
  value: {{ .Values.jira.username | quote }}
- name: JIRA_BRIDGE_API_TOKEN_FILE
  value: /var/run/accessbridge/jira/{{ .Values.jira.apiTokenSecretPath }}
- name: JIRA_BRIDGE_PROJECT
  value: {{ .Values.jira.project | quote }}
- name: JIRA_BRIDGE_ISSUE_TYPE
  value: {{ .Values.jira.issueType | quote }}
{{- end -}}

{{- define "ab.webhookSecret" -}}
{{- if .Values.webhook.secretFromSecret -}}{{ .Values.webhook.secretFromSecret }}
{{- else if .Values.webhook.secret -}}{{ include "ab.fullname" . }}-secrets
{{- else -}}{{- fail "webhook.secretFromSecret: name the Secret holding the Jira webhook's HMAC secret (or set webhook.secret)" -}}
{{- end -}}
{{- end -}}

{{- define "ab.env.webhook" -}}
- name: WEBHOOK_INGRESS_ADDR
  value: ":8081"
- name: WEBHOOK_INGRESS_HMAC_SECRETS_FILE
  value: /var/run/accessbridge/webhook/{{ .Values.webhook.secretSecretPath }}
{{- if .Values.http.tlsFromSecret }}
- name: WEBHOOK_INGRESS_TLS_CERT
  value: /var/run/accessbridge/tls/{{ .Values.http.tlsCertSecretPath }}
- name: WEBHOOK_INGRESS_TLS_KEY
  value: /var/run/accessbridge/tls/{{ .Values.http.tlsKeySecretPath }}
{{- else if .Values.http.insecureNoTLS }}
- name: WEBHOOK_INGRESS_INSECURE_NO_TLS
  value: "true"
{{- else }}
{{- fail "http.tlsFromSecret: name the TLS Secret of the webhook endpoint, or set http.insecureNoTLS=true when an Ingress terminates TLS" }}
{{- end }}
{{- end -}}

{{- define "ab.mattermostTokenSecret" -}}
{{- if .Values.mattermost.tokenFromSecret -}}{{ .Values.mattermost.tokenFromSecret }}
{{- else -}}{{ include "ab.fullname" . }}-secrets
{{- end -}}
{{- end -}}

{{- define "ab.env.mattermost" -}}
- name: MATTERMOST_BRIDGE_URL
  value: {{ .Values.mattermost.url | quote }}
- name: MATTERMOST_BRIDGE_TOKEN_FILE
  value: /var/run/accessbridge/mattermost/{{ .Values.mattermost.tokenSecretPath }}
{{- with .Values.mattermost.recipients }}
- name: MATTERMOST_BRIDGE_RECIPIENTS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.mattermost.roleToRecipients }}
- name: MATTERMOST_BRIDGE_ROLE_TO_RECIPIENTS
  value: {{ toJson . | quote }}
{{- end }}
{{- end -}}

{{- define "ab.webhookScheme" -}}
{{- if .Values.http.tlsFromSecret -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{- /* Volumes and mounts: pass a dict with "root" (the context) and the parts. */ -}}
{{- define "ab.volumes" -}}
{{- $r := .root -}}
{{- if .teleport }}
- name: teleport-identity
  secret:
    secretName: {{ include "ab.identitySecret" $r }}
    defaultMode: 0440
{{- end }}
{{- if .jira }}
- name: jira-token
  secret:
    secretName: {{ include "ab.jiraTokenSecret" $r }}
    defaultMode: 0440
    items:
      - key: {{ $r.Values.jira.apiTokenSecretPath }}
        path: {{ $r.Values.jira.apiTokenSecretPath }}
{{- end }}
{{- if .webhook }}
- name: webhook-secret
  secret:
    secretName: {{ include "ab.webhookSecret" $r }}
    defaultMode: 0440
    items:
      - key: {{ $r.Values.webhook.secretSecretPath }}
        path: {{ $r.Values.webhook.secretSecretPath }}
{{- if $r.Values.http.tlsFromSecret }}
- name: tls
  secret:
    secretName: {{ $r.Values.http.tlsFromSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}
{{- if .mattermost }}
- name: mattermost-token
  secret:
    secretName: {{ include "ab.mattermostTokenSecret" $r }}
    defaultMode: 0440
    items:
      - key: {{ $r.Values.mattermost.tokenSecretPath }}
        path: {{ $r.Values.mattermost.tokenSecretPath }}
{{- end }}
{{- if $r.Values.nats.credsFromSecret }}
- name: nats-creds
  secret:
    secretName: {{ $r.Values.nats.credsFromSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "ab.mounts" -}}
{{- $r := .root -}}
{{- if .teleport }}
- name: teleport-identity
  mountPath: /var/run/accessbridge/teleport-identity
  readOnly: true
{{- end }}
{{- if .jira }}
- name: jira-token
  mountPath: /var/run/accessbridge/jira
  readOnly: true
{{- end }}
{{- if .webhook }}
- name: webhook-secret
  mountPath: /var/run/accessbridge/webhook
  readOnly: true
{{- if $r.Values.http.tlsFromSecret }}
- name: tls
  mountPath: /var/run/accessbridge/tls
  readOnly: true
{{- end }}
{{- end }}
{{- if .mattermost }}
- name: mattermost-token
  mountPath: /var/run/accessbridge/mattermost
  readOnly: true
{{- end }}
{{- if $r.Values.nats.credsFromSecret }}
- name: nats-creds
  mountPath: /var/run/accessbridge/nats
  readOnly: true
{{- end }}
{{- end -}}

{{- /* The Secret for values given inline (jira.apiToken, webhook.secret). */ -}}
{{- define "ab.inlineSecret" -}}
{{- $r := .root -}}
{{- $jira := and .jira (not $r.Values.jira.apiTokenFromSecret) $r.Values.jira.apiToken -}}
{{- $hook := and .webhook (not $r.Values.webhook.secretFromSecret) $r.Values.webhook.secret -}}
{{- $mm := and .mattermost (not $r.Values.mattermost.tokenFromSecret) $r.Values.mattermost.token -}}
{{- if or $jira $hook $mm }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "ab.fullname" $r }}-secrets
  labels:
    {{- include "ab.labels" $r | nindent 4 }}
type: Opaque
stringData:
  {{- if $jira }}
  {{ $r.Values.jira.apiTokenSecretPath }}: {{ $r.Values.jira.apiToken | quote }}
  {{- end }}
  {{- if $hook }}
  {{ $r.Values.webhook.secretSecretPath }}: {{ $r.Values.webhook.secret | quote }}
  {{- end }}
  {{- if $mm }}
  {{ $r.Values.mattermost.tokenSecretPath }}: {{ $r.Values.mattermost.token | quote }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "ab.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "ab.fullname" . }}
  labels:
    {{- include "ab.labels" . | nindent 4 }}
automountServiceAccountToken: false
{{- end -}}

{{- define "ab.podExtras" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- /* The Ingress of a webhook endpoint: pass the root context. */ -}}
{{- define "ab.ingress" -}}
{{- if .Values.ingress.enabled }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "ab.fullname" . }}
  labels:
    {{- include "ab.labels" . | nindent 4 }}
  {{- with .Values.ingress.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with .Values.ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- if .Values.ingress.tlsSecretName }}
  tls:
    - hosts: [{{ .Values.ingress.host | quote }}]
      secretName: {{ .Values.ingress.tlsSecretName }}
  {{- end }}
  rules:
    - host: {{ .Values.ingress.host | quote }}
      http:
        paths:
          - path: /webhook
            pathType: Prefix
            backend:
              service:
                name: {{ include "ab.fullname" . }}
                port:
                  name: webhook
{{- end }}
{{- end -}}

{{- /*
The Deployment of one service: dict with "root", the parts it reads
("teleport", "jira", "webhook": true), "env" (the name of its env template)
and "port" (its /status /healthz /readyz /metrics port; the ingress serves them
on its webhook port).
*/ -}}
{{- define "ab.deployment" -}}
{{- $r := .root -}}
{{- include "ab.validate" (merge (dict "nats" true) .) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "ab.fullname" $r }}
  labels:
    {{- include "ab.labels" $r | nindent 4 }}
spec:
  replicas: {{ $r.Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "ab.selectorLabels" $r | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "ab.selectorLabels" $r | nindent 8 }}
      annotations:
        checksum/secrets: {{ include "ab.inlineSecret" . | sha256sum }}
        {{- with $r.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "ab.fullname" $r }}
      automountServiceAccountToken: false
      securityContext:
        {{- toYaml $r.Values.podSecurityContext | nindent 8 }}
      {{- with include "ab.podExtras" $r | trim }}{{ . | nindent 6 }}{{ end }}
      containers:
        - name: {{ $r.Chart.Name }}
          image: {{ include "ab.image" $r }}
          imagePullPolicy: {{ $r.Values.image.pullPolicy }}
          args: ["start"]
          env:
            {{- with include "ab.env.common" $r | trim }}{{ . | nindent 12 }}{{ end }}
            {{- with include .env $r | trim }}{{ . | nindent 12 }}{{ end }}
            {{- with include "ab.env.extra" $r | trim }}{{ . | nindent 12 }}{{ end }}
          ports:
            {{- if .webhook }}
            - name: webhook
              containerPort: 8081
            {{- else }}
            - name: http
              containerPort: {{ .port }}
            {{- end }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: {{ if .webhook }}webhook{{ else }}http{{ end }}
              {{- if and .webhook $r.Values.http.tlsFromSecret }}
              scheme: HTTPS
              {{- end }}
            periodSeconds: 5
            failureThreshold: 3
          livenessProbe:
            httpGet:
              path: /healthz
              port: {{ if .webhook }}webhook{{ else }}http{{ end }}
              {{- if and .webhook $r.Values.http.tlsFromSecret }}
              scheme: HTTPS
              {{- end }}
            initialDelaySeconds: 30
            periodSeconds: 10
            failureThreshold: 6
          securityContext:
            {{- toYaml $r.Values.securityContext | nindent 12 }}
          resources:
            {{- toYaml $r.Values.resources | nindent 12 }}
          volumeMounts:
            {{- with include "ab.mounts" . | trim }}{{ . | nindent 12 }}{{ end }}
      volumes:
        {{- with include "ab.volumes" . | trim }}{{ . | nindent 8 }}{{ end }}
{{- end -}}
