{{/*
capbroker chart helpers. Templates stay declarative; names, labels, the settings file, the
environment, volumes, security contexts and the checks on values live here.
*/}}

{{- define "capbroker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-capbroker, or the release name when it already contains the chart name. */}}
{{- define "capbroker.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "capbroker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Kubernetes recommended labels. Call with (dict "root" $ "component" "broker"). */}}
{{- define "capbroker.labels" -}}
helm.sh/chart: {{ include "capbroker.chart" .root }}
{{ include "capbroker.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: capbroker
{{- end -}}

{{- define "capbroker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "capbroker.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "capbroker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "capbroker.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The migrations hook runs before the release's ServiceAccount exists: it has its own. */}}
{{- define "capbroker.migrateServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- printf "%s-migrate" (include "capbroker.fullname" .) -}}
{{- else -}}
{{- include "capbroker.serviceAccountName" . -}}
{{- end -}}
{{- end -}}

{{- define "capbroker.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "capbroker.brokerHost" -}}
{{- printf "%s-broker.%s.svc" (include "capbroker.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "capbroker.brokerUrl" -}}
{{- printf "http://%s:%v" (include "capbroker.brokerHost" .) .Values.broker.service.port -}}
{{- end -}}

{{- define "capbroker.gatewayUrl" -}}
{{- printf "http://%s-gateway.%s.svc:%v" (include "capbroker.fullname" .) .Release.Namespace .Values.gateway.service.port -}}
{{- end -}}

{{- define "capbroker.issuer" -}}
{{- default (include "capbroker.brokerUrl" .) .Values.settings.issuer -}}
{{- end -}}

{{- define "capbroker.settingsConfigMapName" -}}
{{- default (printf "%s-settings" (include "capbroker.fullname" .)) .Values.settings.existingConfigMap -}}
{{- end -}}

{{- define "capbroker.providersConfigMapName" -}}
{{- default (printf "%s-providers" (include "capbroker.fullname" .)) .Values.gateway.existingConfigMap -}}
{{- end -}}

{{- define "capbroker.manifestsConfigMapName" -}}
{{- default (printf "%s-manifests" (include "capbroker.fullname" .)) .Values.manifests.existingConfigMap -}}
{{- end -}}

{{- define "capbroker.applyManifests" -}}
{{- if and .Values.manifests.apply (or .Values.manifests.existingConfigMap .Values.manifests.files) -}}true{{- end -}}
{{- end -}}

{{- define "capbroker.testAgentSecretName" -}}
{{- default (printf "%s-test-agent" (include "capbroker.fullname" .)) .Values.tests.agentCredential.secretName -}}
{{- end -}}

{{/*
The settings file (README "Configuration"; every key a broker.settings.Settings field).
No secret here: the database URL comes from a Secret, Vault credentials from files.
*/}}
{{- define "capbroker.settingsYaml" -}}
# capbroker settings (CAPBROKER_CONFIG); rendered by the capbroker chart.
data_dir: /tmp/capbroker
secret_backend: vault
signer: {{ ternary "transit" "local" .Values.transit.enabled }}
{{- if .Values.transit.enabled }}
transit_mount: {{ .Values.transit.mount | quote }}
transit_key: {{ .Values.transit.key | quote }}
{{- end }}
issuer: {{ include "capbroker.issuer" . | quote }}
audience: {{ .Values.settings.audience | quote }}
max_token_ttl: {{ .Values.settings.maxTokenTtl }}
leeway: {{ .Values.settings.leeway }}
key_propagation_delay: {{ .Values.settings.keyPropagationDelay }}
max_body_bytes: {{ .Values.settings.maxBodyBytes }}
credential_cache_ttl: {{ .Values.settings.credentialCacheTtl }}
log_level: {{ .Values.settings.logLevel }}
{{- end -}}

{{- define "capbroker.providersYaml" -}}
# capbroker gateway providers file (docs/gateway.md); rendered by the capbroker chart.
{{ dict "providers" .Values.gateway.providers | toYaml }}
{{- end -}}

{{/*
Checks values that the schema cannot express; every failure names the value to set.
Included by the broker Deployment, which every render contains.
*/}}
{{- define "capbroker.validate" -}}
{{- $v := .Values -}}
{{- if not $v.database.existingSecret -}}
{{- fail "database.existingSecret is required: the name of a Secret holding the PostgreSQL URL (key database.key, default database-url), e.g. kubectl create secret generic capbroker-db --from-literal=database-url=postgresql+psycopg://capbroker:...@postgres:5432/capbroker" -}}
{{- end -}}
{{- if not $v.vault.address -}}
{{- fail "vault.address is required: the URL of Vault or OpenBao, e.g. https://vault.vault.svc:8200 (capbroker keeps master keys and signing keys there)" -}}
{{- end -}}
{{- if and (eq $v.vault.auth "kubernetes") (not $v.vault.kubernetes.role) -}}
{{- fail "vault.kubernetes.role is required with vault.auth=kubernetes: the Vault role bound to the chart's ServiceAccount" -}}
{{- end -}}
{{- if and (eq $v.vault.auth "approle") (not $v.vault.approle.existingSecret) -}}
{{- fail "vault.approle.existingSecret is required with vault.auth=approle: a Secret with the keys vault.approle.roleIdKey and vault.approle.secretIdKey" -}}
{{- end -}}
{{- if and (eq $v.vault.auth "token") (not $v.vault.token.existingSecret) -}}
{{- fail "vault.token.existingSecret is required with vault.auth=token: a Secret whose key vault.token.key holds a Vault token" -}}
{{- end -}}
{{- if and $v.vault.caCert.secretName $v.vault.caCert.configMapName -}}
{{- fail "vault.caCert: set secretName or configMapName, not both" -}}
{{- end -}}
{{- if and (not $v.gateway.existingConfigMap) (not $v.gateway.providers) -}}
{{- fail "gateway.providers is required (or gateway.existingConfigMap): list at least one provider, e.g. [{name: github, route_map: github}]" -}}
{{- end -}}
{{- if and $v.gateway.existingConfigMap (or $v.gateway.providers $v.gateway.routeMaps) -}}
{{- fail "gateway.existingConfigMap replaces gateway.providers and gateway.routeMaps: set one or the other" -}}
{{- end -}}
{{- if and $v.manifests.existingConfigMap $v.manifests.files -}}
{{- fail "manifests.existingConfigMap replaces manifests.files: set one or the other" -}}
{{- end -}}
{{- if and $v.settings.existingConfigMap (or $v.settings.issuer) -}}
{{- fail "settings.existingConfigMap replaces the settings values: put issuer in its config.yaml instead" -}}
{{- end -}}
{{- if $v.networkPolicy.enabled -}}
{{- if not $v.networkPolicy.postgresql.to -}}
{{- fail "networkPolicy.postgresql.to is required with networkPolicy.enabled: where PostgreSQL runs, e.g. [{cidr: 10.0.5.0/24}] or [{namespaceSelector: {kubernetes.io/metadata.name: db}}]" -}}
{{- end -}}
{{- if not $v.networkPolicy.vault.to -}}
{{- fail "networkPolicy.vault.to is required with networkPolicy.enabled: where Vault runs, e.g. [{namespaceSelector: {kubernetes.io/metadata.name: vault}, podSelector: {app.kubernetes.io/name: vault}}]" -}}
{{- end -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled $v.networkPolicy.agentEgress.enabled (not $v.networkPolicy.agentEgress.podSelector) -}}
{{- fail "networkPolicy.agentEgress.podSelector must name the agents' labels: an empty selector would also select the broker and the gateway" -}}
{{- end -}}
{{- if $v.tests.enabled -}}
{{- if or (not $v.tests.template) (not $v.tests.environment) -}}
{{- fail "tests.template and tests.environment are required with tests.enabled: a template the test agent may request, and one of its environments" -}}
{{- end -}}
{{- end -}}
{{- range $c := list "broker" "gateway" -}}
{{- $a := (index $v $c).autoscaling -}}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- fail (printf "%s.autoscaling: minReplicas (%v) is more than maxReplicas (%v)" $c $a.minReplicas $a.maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The container environment. (dict "root" $ "role" "<vault role>")
Settings come from the mounted config.yaml; the database URL from its Secret; the Vault
connection from CAPBROKER_VAULT_* (broker.secrets.vault.config.ENV_VARIABLES), credentials as files.
*/}}
{{- define "capbroker.env" -}}
{{- $v := .root.Values -}}
- name: CAPBROKER_CONFIG
  value: /etc/capbroker/config/config.yaml
- name: CAPBROKER_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.existingSecret }}
      key: {{ $v.database.key }}
- name: CAPBROKER_VAULT_ADDR
  value: {{ $v.vault.address | quote }}
- name: CAPBROKER_VAULT_AUTH
  value: {{ $v.vault.auth }}
- name: CAPBROKER_VAULT_MOUNT
  value: {{ $v.vault.mount | quote }}
- name: CAPBROKER_VAULT_PREFIX
  value: {{ $v.vault.prefix | quote }}
- name: CAPBROKER_VAULT_TIMEOUT
  value: {{ $v.vault.timeout | quote }}
- name: CAPBROKER_VAULT_CACHE_TTL
  value: {{ $v.vault.cacheTtl | quote }}
{{- if $v.vault.namespace }}
- name: CAPBROKER_VAULT_NAMESPACE
  value: {{ $v.vault.namespace | quote }}
{{- end }}
{{- if or $v.vault.caCert.secretName $v.vault.caCert.configMapName }}
- name: CAPBROKER_VAULT_CACERT
  value: /etc/capbroker/vault-ca/ca.crt
{{- end }}
{{- if eq $v.vault.auth "kubernetes" }}
- name: CAPBROKER_VAULT_KUBERNETES_ROLE
  value: {{ .role | quote }}
- name: CAPBROKER_VAULT_KUBERNETES_MOUNT
  value: {{ $v.vault.kubernetes.mount | quote }}
- name: CAPBROKER_VAULT_KUBERNETES_JWT_FILE
  value: /var/run/secrets/capbroker/vault/token
{{- else if eq $v.vault.auth "approle" }}
- name: CAPBROKER_VAULT_APPROLE_MOUNT
  value: {{ $v.vault.approle.mount | quote }}
- name: CAPBROKER_VAULT_ROLE_ID_FILE
  value: /var/run/secrets/capbroker/approle/role_id
- name: CAPBROKER_VAULT_SECRET_ID_FILE
  value: /var/run/secrets/capbroker/approle/secret_id
{{- else }}
- name: CAPBROKER_VAULT_TOKEN_FILE
  value: /var/run/secrets/capbroker/vault-token/token
{{- end }}
- name: HOME
  value: /tmp
{{- end -}}

{{/* Mounts every capbroker process needs: /tmp, the settings, the Vault credential. */}}
{{- define "capbroker.volumeMounts" -}}
{{- $v := .Values -}}
- name: tmp
  mountPath: /tmp
- name: settings
  mountPath: /etc/capbroker/config
  readOnly: true
{{- if or $v.vault.caCert.secretName $v.vault.caCert.configMapName }}
- name: vault-ca
  mountPath: /etc/capbroker/vault-ca
  readOnly: true
{{- end }}
{{- if eq $v.vault.auth "kubernetes" }}
- name: vault-token
  mountPath: /var/run/secrets/capbroker/vault
  readOnly: true
{{- else if eq $v.vault.auth "approle" }}
- name: vault-approle
  mountPath: /var/run/secrets/capbroker/approle
  readOnly: true
{{- else }}
- name: vault-token
  mountPath: /var/run/secrets/capbroker/vault-token
  readOnly: true
{{- end }}
{{- end -}}

{{/* The volumes behind capbroker.volumeMounts. (dict "root" $ "settings" "<ConfigMap>") */}}
{{- define "capbroker.volumes" -}}
{{- $v := .root.Values -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ $v.tmpSizeLimit }}
- name: settings
  configMap:
    name: {{ .settings }}
    items:
      - key: config.yaml
        path: config.yaml
{{- if $v.vault.caCert.secretName }}
- name: vault-ca
  secret:
    secretName: {{ $v.vault.caCert.secretName }}
    items:
      - key: {{ $v.vault.caCert.key }}
        path: ca.crt
{{- else if $v.vault.caCert.configMapName }}
- name: vault-ca
  configMap:
    name: {{ $v.vault.caCert.configMapName }}
    items:
      - key: {{ $v.vault.caCert.key }}
        path: ca.crt
{{- end }}
{{- if eq $v.vault.auth "kubernetes" }}
- name: vault-token
  projected:
    defaultMode: 0440
    sources:
      - serviceAccountToken:
          path: token
          audience: {{ $v.vault.kubernetes.audience | quote }}
          expirationSeconds: {{ $v.vault.kubernetes.tokenExpirationSeconds }}
{{- else if eq $v.vault.auth "approle" }}
- name: vault-approle
  secret:
    secretName: {{ $v.vault.approle.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $v.vault.approle.roleIdKey }}
        path: role_id
      - key: {{ $v.vault.approle.secretIdKey }}
        path: secret_id
{{- else }}
- name: vault-token
  secret:
    secretName: {{ $v.vault.token.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $v.vault.token.key }}
        path: token
{{- end }}
{{- end -}}

{{- define "capbroker.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "capbroker.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/* Spread replicas across nodes and zones unless the values give constraints. */}}
{{- define "capbroker.topologySpread" -}}
{{- $c := index .root.Values .component -}}
{{- if $c.topologySpreadConstraints -}}
{{ toYaml $c.topologySpreadConstraints }}
{{- else -}}
{{- range $i, $key := list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
{{- if $i }}{{ "\n" }}{{ end -}}
- maxSkew: 1
  topologyKey: {{ $key }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "capbroker.selectorLabels" (dict "root" $.root "component" $.component) | nindent 6 }}
  matchLabelKeys: [pod-template-hash]
{{- end }}
{{- end -}}
{{- end -}}

{{/* Liveness and readiness on the real health endpoints (broker/api/public.py, gateway/app.py). */}}
{{- define "capbroker.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* NetworkPolicy peers from values: {cidr, except} -> ipBlock; label maps -> selectors. */}}
{{- define "capbroker.peers" -}}
{{- $out := list -}}
{{- range . -}}
{{- if .cidr -}}
{{- $ip := dict "cidr" .cidr -}}
{{- if .except -}}{{- $_ := set $ip "except" .except -}}{{- end -}}
{{- $out = append $out (dict "ipBlock" $ip) -}}
{{- else -}}
{{- $peer := dict -}}
{{- if hasKey . "namespaceSelector" -}}{{- $_ := set $peer "namespaceSelector" (dict "matchLabels" .namespaceSelector) -}}{{- end -}}
{{- if hasKey . "podSelector" -}}{{- $_ := set $peer "podSelector" (dict "matchLabels" .podSelector) -}}{{- end -}}
{{- $out = append $out $peer -}}
{{- end -}}
{{- end -}}
{{- if $out -}}{{ toYaml $out }}{{- end -}}
{{- end -}}

{{- define "capbroker.ports" -}}
{{- $out := list -}}
{{- range . -}}{{- $out = append $out (dict "protocol" "TCP" "port" .) -}}{{- end -}}
{{ toYaml $out }}
{{- end -}}

{{/* Egress every capbroker process needs: DNS, PostgreSQL, Vault. */}}
{{- define "capbroker.egressCommon" -}}
{{- $np := .Values.networkPolicy -}}
- to: {{- include "capbroker.peers" $np.dns | nindent 4 }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
- to: {{- include "capbroker.peers" $np.postgresql.to | nindent 4 }}
  ports: {{- include "capbroker.ports" $np.postgresql.ports | nindent 4 }}
- to: {{- include "capbroker.peers" $np.vault.to | nindent 4 }}
  ports: {{- include "capbroker.ports" $np.vault.ports | nindent 4 }}
{{- end -}}
