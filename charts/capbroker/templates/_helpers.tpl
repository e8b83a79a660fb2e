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

{{/* "true" in dev mode: one pod, the embedded default. */}}
{{- define "capbroker.dev" -}}
{{- if eq .Values.mode "dev" -}}true{{- end -}}
{{- end -}}

{{/*
The release's gateways, as a YAML list: `gateway` alone, or each `gateways` entry merged
over `gateway`. Each item adds component (its label and name suffix), valuesPath (for
messages) and providersConfigMap. Read with: include "capbroker.gatewayList" . | fromYamlArray
*/}}
{{- define "capbroker.gatewayList" -}}
{{- $out := list -}}
{{- $full := include "capbroker.fullname" . -}}
{{- if and .Values.gateways (not (include "capbroker.dev" .)) -}}
{{- range .Values.gateways -}}
{{- $g := mergeOverwrite (deepCopy $.Values.gateway) (deepCopy .) -}}
{{- $component := printf "gateway-%s" .name -}}
{{- $_ := set $g "component" $component -}}
{{- $_ := set $g "valuesPath" (printf "gateways[%s]" .name) -}}
{{- $_ := set $g "providersConfigMap" (default (printf "%s-%s-providers" $full $component) $g.existingConfigMap) -}}
{{- $out = append $out $g -}}
{{- end -}}
{{- else -}}
{{- $g := deepCopy .Values.gateway -}}
{{- $_ := set $g "component" "gateway" -}}
{{- $_ := set $g "valuesPath" "gateway" -}}
{{- $_ := set $g "providersConfigMap" (include "capbroker.providersConfigMapName" .) -}}
{{- $out = append $out $g -}}
{{- end -}}
{{ toYaml $out }}
{{- end -}}

{{/* Labels every pod serving a gateway carries (NetworkPolicy peers for "any gateway"). */}}
{{- define "capbroker.gatewayPeerLabels" -}}
app.kubernetes.io/name: {{ include "capbroker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
capbroker.dev/gateway: "true"
{{- end -}}

{{/* The gateways' ports, for policies that reach any of them. */}}
{{- define "capbroker.gatewayPorts" -}}
{{- $ports := list -}}
{{- range $g := include "capbroker.gatewayList" . | fromYamlArray -}}
{{- $ports = append $ports (int $g.port) -}}
{{- end -}}
{{ toYaml (uniq $ports) }}
{{- end -}}

{{- define "capbroker.brokerHost" -}}
{{- printf "%s-broker.%s.svc" (include "capbroker.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "capbroker.brokerUrl" -}}
{{- printf "http://%s:%v" (include "capbroker.brokerHost" .) .Values.broker.service.port -}}
{{- end -}}

{{/* The first gateway's in-cluster URL. */}}
{{- define "capbroker.gatewayUrl" -}}
{{- $g := first (include "capbroker.gatewayList" . | fromYamlArray) -}}
{{- printf "http://%s-%s.%s.svc:%v" (include "capbroker.fullname" .) $g.component .Release.Namespace $g.service.port -}}
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

{{/* "true" when the release runs the migrations job: production, with its broker. */}}
{{- define "capbroker.migrates" -}}
{{- if and .Values.broker.enabled (not (include "capbroker.dev" .)) -}}true{{- end -}}
{{- end -}}

{{- define "capbroker.applyManifests" -}}
{{- if and .Values.broker.enabled .Values.manifests.apply (or .Values.manifests.existingConfigMap .Values.manifests.files) -}}true{{- end -}}
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
{{- if include "capbroker.dev" . }}
# dev mode: SQLite and the local encrypted secret store on the persistent volume.
data_dir: /var/lib/capbroker
secret_backend: local
signer: local
{{- else }}
data_dir: /tmp/capbroker
secret_backend: vault
signer: {{ ternary "transit" "local" .Values.transit.enabled }}
{{- if .Values.transit.enabled }}
transit_mount: {{ .Values.transit.mount | quote }}
transit_key: {{ .Values.transit.key | quote }}
{{- end }}
database_pool_size: {{ .Values.database.poolSize }}
database_max_overflow: {{ .Values.database.maxOverflow }}
{{- end }}
{{- with .Values.settings.approvalWebhook.url }}
approval_webhook_url: {{ . | quote }}
{{- end }}
{{- if .Values.metrics.enabled }}
metrics_port: {{ .Values.metrics.port }}
metrics_host: 0.0.0.0
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

{{/* (dict "root" $ "gateway" <an item of capbroker.gatewayList>) */}}
{{- define "capbroker.providersYaml" -}}
{{- $providers := .gateway.providers -}}
{{- if and (include "capbroker.dev" .root) .root.Values.dev.demoProvider -}}
{{- $providers = prepend $providers (dict "name" "railway-demo" "route_map" "railway-demo" "upstream" "http://127.0.0.1:8090") -}}
{{- end -}}
# capbroker gateway providers file (docs/gateway.md); rendered by the capbroker chart.
{{ dict "providers" $providers | toYaml }}
{{- end -}}

{{/*
Checks values that the schema cannot express. Every problem is collected and all are
reported in one error, so an install learns everything it lacks at once. Included by the
settings ConfigMap, which every render contains.
*/}}
{{- define "capbroker.validate" -}}
{{- $v := .Values -}}
{{- $e := list -}}
{{- if eq $v.mode "production" -}}
{{- if not $v.database.existingSecret -}}
{{- $e = append $e "database.existingSecret is required: the name of a Secret holding the PostgreSQL URL (key database.key, default database-url), e.g. kubectl create secret generic capbroker-db --from-literal=database-url=postgresql+psycopg://capbroker:...@postgres:5432/capbroker" -}}
{{- end -}}
{{- if not $v.vault.address -}}
{{- $e = append $e "vault.address is required: the URL of Vault or OpenBao, e.g. https://vault.vault.svc:8200 (capbroker keeps master keys and signing keys there)" -}}
{{- end -}}
{{- if and (eq $v.vault.auth "kubernetes") (not $v.vault.kubernetes.role) -}}
{{- $e = append $e "vault.kubernetes.role is required with vault.auth=kubernetes: the Vault role bound to the chart's ServiceAccount" -}}
{{- end -}}
{{- if and (eq $v.vault.auth "approle") (not $v.vault.approle.existingSecret) -}}
{{- $e = append $e "vault.approle.existingSecret is required with vault.auth=approle: a Secret with the keys vault.approle.roleIdKey and vault.approle.secretIdKey" -}}
{{- end -}}
{{- if and (eq $v.vault.auth "token") (not $v.vault.token.existingSecret) -}}
{{- $e = append $e "vault.token.existingSecret is required with vault.auth=token: a Secret whose key vault.token.key holds a Vault token" -}}
{{- end -}}
{{- range $g := include "capbroker.gatewayList" . | fromYamlArray -}}
{{- if and (not $g.existingConfigMap) (not $g.providers) -}}
{{- $e = append $e (printf "%s.providers is required (or %s.existingConfigMap): list at least one provider, e.g. [{name: github, route_map: github}]" $g.valuesPath $g.valuesPath) -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled (not $g.providersEgress) (not $v.networkPolicy.providers) -}}
{{- $e = append $e (printf "networkPolicy.providers (or %s.providersEgress) is required with networkPolicy.enabled: where the providers' APIs are, e.g. [{cidr: 140.82.112.0/20, ports: [443]}] for GitHub" $g.valuesPath) -}}
{{- end -}}
{{- end -}}
{{- if $v.networkPolicy.enabled -}}
{{- if not $v.networkPolicy.postgresql.to -}}
{{- $e = append $e "networkPolicy.postgresql.to is required with networkPolicy.enabled: where PostgreSQL runs, e.g. [{cidr: 10.0.5.0/24}] or [{namespaceSelector: {kubernetes.io/metadata.name: db}}]" -}}
{{- end -}}
{{- if not $v.networkPolicy.vault.to -}}
{{- $e = append $e "networkPolicy.vault.to is required with networkPolicy.enabled: where Vault runs, e.g. [{namespaceSelector: {kubernetes.io/metadata.name: vault}, podSelector: {app.kubernetes.io/name: vault}}]" -}}
{{- end -}}
{{- end -}}
{{- if and (not $v.broker.enabled) (not $v.settings.issuer) (not $v.settings.existingConfigMap) -}}
{{- $e = append $e "settings.issuer is required with broker.enabled=false: the URL of the broker these gateways trust (another release's)" -}}
{{- end -}}
{{- if $v.metrics.enabled -}}
{{- if ne (int $v.broker.workers) 1 -}}
{{- $e = append $e "metrics.enabled needs broker.workers=1: one metrics port serves one process" -}}
{{- end -}}
{{- range $g := include "capbroker.gatewayList" . | fromYamlArray -}}
{{- if ne (int $g.workers) 1 -}}
{{- $e = append $e (printf "metrics.enabled needs %s.workers=1: one metrics port serves one process" $g.valuesPath) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- if $v.metrics.enabled -}}
{{- $e = append $e "metrics.enabled needs mode=production (the dev pod's two processes would share one metrics port)" -}}
{{- end -}}
{{- if $v.gateways -}}
{{- $e = append $e "gateways: several gateways need mode=production (dev mode runs one, beside the broker)" -}}
{{- end -}}
{{- if not $v.broker.enabled -}}
{{- $e = append $e "broker.enabled=false needs mode=production (dev mode runs the broker and the gateway in one pod)" -}}
{{- end -}}
{{- if and (not $v.gateway.existingConfigMap) (not $v.gateway.providers) (not $v.dev.demoProvider) -}}
{{- $e = append $e "gateway.providers is required when dev.demoProvider is false: list at least one provider" -}}
{{- end -}}
{{- end -}}
{{- if and $v.settings.issuer $v.networkPolicy.enabled (not $v.networkPolicy.issuer.to) -}}
{{- $e = append $e "networkPolicy.issuer.to is required with settings.issuer and networkPolicy.enabled: where the gateways reach the issuer for its JWKS (e.g. the ingress controller's namespace)" -}}
{{- end -}}
{{- if and $v.settings.approvalWebhook.url (not $v.settings.approvalWebhook.existingSecret) -}}
{{- $e = append $e "settings.approvalWebhook.existingSecret is required with settings.approvalWebhook.url: a Secret holding the HMAC key that signs each delivery" -}}
{{- end -}}
{{- if and $v.settings.approvalWebhook.url $v.networkPolicy.enabled (not $v.networkPolicy.approvalWebhook.to) -}}
{{- $e = append $e "networkPolicy.approvalWebhook.to is required with settings.approvalWebhook.url and networkPolicy.enabled: where the webhook's receiver runs" -}}
{{- end -}}
{{- if and $v.vault.caCert.secretName $v.vault.caCert.configMapName -}}
{{- $e = append $e "vault.caCert: set secretName or configMapName, not both" -}}
{{- end -}}
{{- range $g := include "capbroker.gatewayList" . | fromYamlArray -}}
{{- if and $g.existingConfigMap (or $g.providers $g.routeMaps) -}}
{{- $e = append $e (printf "%s.existingConfigMap replaces %s.providers and %s.routeMaps: set one or the other" $g.valuesPath $g.valuesPath $g.valuesPath) -}}
{{- end -}}
{{- if and $g.providersCaBundle.secretName $g.providersCaBundle.configMapName -}}
{{- $e = append $e (printf "%s.providersCaBundle: set secretName or configMapName, not both" $g.valuesPath) -}}
{{- end -}}
{{- if and $g.ingress.enabled (not $g.ingress.hosts) -}}
{{- $e = append $e (printf "%s.ingress.hosts: list at least one host when %s.ingress.enabled is true" $g.valuesPath $g.valuesPath) -}}
{{- end -}}
{{- $a := $g.autoscaling -}}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- $e = append $e (printf "%s.autoscaling: minReplicas (%v) is more than maxReplicas (%v)" $g.valuesPath $a.minReplicas $a.maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- $names := list -}}
{{- range $v.gateways -}}
{{- if has .name $names -}}
{{- $e = append $e (printf "gateways: the name %s is used twice" .name) -}}
{{- end -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- if and $v.manifests.existingConfigMap $v.manifests.files -}}
{{- $e = append $e "manifests.existingConfigMap replaces manifests.files: set one or the other" -}}
{{- end -}}
{{- if and $v.settings.existingConfigMap (or $v.settings.issuer) -}}
{{- $e = append $e "settings.existingConfigMap replaces the settings values: put issuer in its config.yaml instead" -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled $v.networkPolicy.agentEgress.enabled (not $v.networkPolicy.agentEgress.podSelector) -}}
{{- $e = append $e "networkPolicy.agentEgress.podSelector must name the agents' labels: an empty selector would also select the broker and the gateway" -}}
{{- end -}}
{{- if $v.tests.enabled -}}
{{- if or (not $v.tests.template) (not $v.tests.environment) -}}
{{- $e = append $e "tests.template and tests.environment are required with tests.enabled: a template the test agent may request, and one of its environments" -}}
{{- end -}}
{{- end -}}
{{- if and $v.broker.ingress.enabled (not $v.broker.ingress.hosts) -}}
{{- $e = append $e "broker.ingress.hosts: list at least one host when broker.ingress.enabled is true" -}}
{{- end -}}
{{- $a := $v.broker.autoscaling -}}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- $e = append $e (printf "broker.autoscaling: minReplicas (%v) is more than maxReplicas (%v)" $a.minReplicas $a.maxReplicas) -}}
{{- end -}}
{{- if and (not $v.serviceAccount.create) (not $v.serviceAccount.name) -}}
{{- $e = append $e "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" -}}
{{- end -}}
{{- if $v.workloadIdentity.enabled -}}
{{- if and (not $v.workloadIdentity.trustedIssuers) (not $v.workloadIdentity.kubernetes.enabled) -}}
{{- $e = append $e "workloadIdentity.trustedIssuers (or workloadIdentity.kubernetes.enabled) is required with workloadIdentity.enabled: at least one TrustedIssuer document (docs/identity.md)" -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled (include "capbroker.trustedIssuersFetch" .) (not $v.networkPolicy.workloadIdentity.to) -}}
{{- $e = append $e "networkPolicy.workloadIdentity.to is required with networkPolicy.enabled and a trusted issuer with jwksUri: where the broker fetches the JWKS, e.g. [{cidr: 10.96.0.1/32}] for the API server" -}}
{{- end -}}
{{- end -}}
{{- if $e -}}
{{- fail (printf "\n%d value(s) to set or fix (mode %s):\n  - %s" (len $e) $v.mode (join "\n  - " $e)) -}}
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
{{- if $v.settings.approvalWebhook.existingSecret }}
- name: CAPBROKER_APPROVAL_WEBHOOK_SECRET_FILE
  value: /var/run/secrets/capbroker/approval-webhook/hmac-key
{{- end }}
{{- if not (include "capbroker.dev" .root) }}
- name: CAPBROKER_DATABASE_URL_FILE
  value: /var/run/secrets/capbroker/database/url
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
{{- end }}
- name: HOME
  value: /tmp
{{- end -}}

{{/* Mounts every capbroker process needs: /tmp, the settings, the database URL and the
Vault credential (production) or the data volume (dev). */}}
{{- define "capbroker.volumeMounts" -}}
{{- $v := .Values -}}
- name: tmp
  mountPath: /tmp
- name: settings
  mountPath: /etc/capbroker/config
  readOnly: true
{{- if $v.settings.approvalWebhook.existingSecret }}
- name: approval-webhook
  mountPath: /var/run/secrets/capbroker/approval-webhook
  readOnly: true
{{- end }}
{{- if include "capbroker.dev" . }}
- name: data
  mountPath: /var/lib/capbroker
{{- else }}
- name: database-url
  mountPath: /var/run/secrets/capbroker/database
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
{{- with $v.settings.approvalWebhook.existingSecret }}
- name: approval-webhook
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: {{ $v.settings.approvalWebhook.key }}
        path: hmac-key
{{- end }}
{{- if include "capbroker.dev" .root }}
- name: data
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-data" (include "capbroker.fullname" .root)) $v.dev.persistence.existingClaim }}
{{- else }}
- name: database-url
  secret:
    secretName: {{ $v.database.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $v.database.key }}
        path: url
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
{{- $c := .values -}}
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
{{- $port := default "http" .port -}}
startupProbe:
  httpGet: {path: /healthz, port: {{ $port }}}
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet: {path: /healthz, port: {{ $port }}}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: {{ $port }}}
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
{{- if not (include "capbroker.dev" .) }}
- to: {{- include "capbroker.peers" $np.postgresql.to | nindent 4 }}
  ports: {{- include "capbroker.ports" $np.postgresql.ports | nindent 4 }}
- to: {{- include "capbroker.peers" $np.vault.to | nindent 4 }}
  ports: {{- include "capbroker.ports" $np.vault.ports | nindent 4 }}
{{- end }}
{{- end -}}

{{/* A gateway's egress beyond egressCommon: the broker (JWKS) or the issuer, the providers,
the approval webhook. (dict "root" $ "gateway" <item>) */}}
{{- define "capbroker.gatewayEgress" -}}
{{- $np := .root.Values.networkPolicy -}}
{{- if .root.Values.settings.issuer }}
- to: {{- include "capbroker.peers" $np.issuer.to | nindent 4 }}
  ports: {{- include "capbroker.ports" $np.issuer.ports | nindent 4 }}
{{- end }}
{{- if .root.Values.broker.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "capbroker.selectorLabels" (dict "root" .root "component" "broker") | nindent 10 }}
  ports:
    - {protocol: TCP, port: {{ .root.Values.broker.port }}}
{{- end }}
{{- range (default $np.providers .gateway.providersEgress) }}
- to: {{- include "capbroker.peers" (list (dict "cidr" .cidr "except" .except)) | nindent 4 }}
  ports: {{- include "capbroker.ports" .ports | nindent 4 }}
{{- end }}
{{- if .root.Values.settings.approvalWebhook.url }}
- to: {{- include "capbroker.peers" $np.approvalWebhook.to | nindent 4 }}
  ports: {{- include "capbroker.ports" $np.approvalWebhook.ports | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The gateway container. (dict "root" $ "gateway" <item>) */}}
{{- define "capbroker.gatewayContainer" -}}
{{- $g := .gateway -}}
{{- $root := .root -}}
- name: gateway
  image: {{ include "capbroker.image" $root }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  command: [capbroker]
  args: [gateway, serve, --providers, /etc/capbroker/providers/providers.yaml, --host, 0.0.0.0, --workers, {{ $g.workers | quote }}, --port, {{ $g.port | quote }}]
  ports:
    - name: {{ ternary "gateway" "http" (eq (include "capbroker.dev" $root) "true") }}
      containerPort: {{ $g.port }}
      protocol: TCP
    {{- if $root.Values.metrics.enabled }}
    - name: metrics
      containerPort: {{ $root.Values.metrics.port }}
      protocol: TCP
    {{- end }}
  env:
    {{- include "capbroker.env" (dict "root" $root "role" (default $root.Values.vault.kubernetes.role $root.Values.vault.kubernetes.gatewayRole)) | nindent 4 }}
    {{- if or $g.providersCaBundle.secretName $g.providersCaBundle.configMapName }}
    - name: SSL_CERT_FILE
      value: /etc/capbroker/providers-ca/ca.crt
    {{- end }}
    {{- with $g.publicUrl }}
    - name: CAPBROKER_GATEWAY_PUBLIC_URL
      value: {{ . | quote }}
    {{- end }}
    {{- with $g.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- include "capbroker.probes" (dict "port" (ternary "gateway" "http" (eq (include "capbroker.dev" $root) "true"))) | nindent 2 }}
  resources:
    {{- toYaml $g.resources | nindent 4 }}
  securityContext:
    {{- include "capbroker.containerSecurityContext" $root | nindent 4 }}
  volumeMounts:
    {{- include "capbroker.volumeMounts" $root | nindent 4 }}
    - name: providers
      mountPath: /etc/capbroker/providers
      readOnly: true
    {{- if or $g.providersCaBundle.secretName $g.providersCaBundle.configMapName }}
    - name: providers-ca
      mountPath: /etc/capbroker/providers-ca
      readOnly: true
    {{- end }}
    {{- with $g.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* The gateway's own volumes. (dict "root" $ "gateway" <item>) */}}
{{- define "capbroker.gatewayVolumes" -}}
{{- $g := .gateway -}}
- name: providers
  configMap:
    name: {{ $g.providersConfigMap }}
{{- with $g.providersCaBundle }}
{{- if .secretName }}
- name: providers-ca
  secret:
    secretName: {{ .secretName }}
    items: [{key: {{ .key }}, path: ca.crt}]
{{- else if .configMapName }}
- name: providers-ca
  configMap:
    name: {{ .configMapName }}
    items: [{key: {{ .key }}, path: ca.crt}]
{{- end }}
{{- end }}
{{- with $g.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The trusted issuers file (a YAML stream of TrustedIssuer documents, docs/identity.md):
workloadIdentity.trustedIssuers, then the in-cluster issuer when kubernetes.enabled. */}}
{{- define "capbroker.trustedIssuersList" -}}
{{- $w := .Values.workloadIdentity -}}
{{- $docs := $w.trustedIssuers -}}
{{- if $w.kubernetes.enabled -}}
{{- $k := $w.kubernetes -}}
{{- $spec := dict "issuer" $k.issuer "jwksUri" $k.jwksUri "audiences" (list $k.audience) "algorithms" (list "RS256") "singleUse" false "agents" $k.agents -}}
{{- $docs = append $docs (dict "apiVersion" "capbroker.dev/v1" "kind" "TrustedIssuer" "metadata" (dict "name" $k.name) "spec" $spec) -}}
{{- end -}}
{{ toYaml $docs }}
{{- end -}}

{{- define "capbroker.trustedIssuersYaml" -}}
# capbroker trusted issuers (CAPBROKER_TRUSTED_ISSUERS_FILE); rendered by the capbroker chart.
{{- range (include "capbroker.trustedIssuersList" . | fromYamlArray) }}
---
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* "true" when a trusted issuer's keys are fetched (jwksUri): the broker needs egress. */}}
{{- define "capbroker.trustedIssuersFetch" -}}
{{- range (include "capbroker.trustedIssuersList" . | fromYamlArray) -}}
{{- if .spec.jwksUri }}true{{ end -}}
{{- end -}}
{{- end -}}
