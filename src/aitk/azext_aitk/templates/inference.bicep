// aitk inference: a LoRA fine-tuned LLM served by vLLM on Azure Container Apps (GPU workload
// profile), the model and adapters on an Azure Files share mounted at /mount.
//
// `az aitk inference provision` deploys this file. Left as shipped, the extension deploys its ARM
// JSON twin (inference.json, no Bicep CLI needed); once you edit it, az compiles your version with
// its Bicep CLI. Parameter values: inference.parameters.json (a null value means the default below,
// or the fine-tuning resource of the same role when infra/finetuning.config.json names one).
// A *Exists parameter set to true reuses that resource as it is: it is never deployed again.

@description('Region of every resource (must offer the chosen GPU workload profile).')
param location string = resourceGroup().location

@description('The container\'s start command.')
param defaultCommands array = [
  'python3'
  '-m'
  'aitk_serve'
]

@description('Most replicas (GPU instances).')
@minValue(1)
param maximumInstanceCount int = 1

@description('Fewest replicas; 0 scales to zero (an idle endpoint costs nothing).')
@minValue(0)
param minReplicas int = 0

@description('Requests per second (the requests of a 15 s window / 15) above which the HTTP scale rule adds a replica, up to maximumInstanceCount: what one replica carries. provision derives it from the model, the GPU profile and an expected request length (docs/serving.md, \'Scale-out\'); bench measures it.')
@minValue(1)
param scaleConcurrentRequests int = 8

@description('Seconds without a request before an idle endpoint scales to zero (with minReplicas 0). Longer costs GPU time while idle; shorter makes more requests wait for a cold start (minutes for a large model). Azure\'s default is 300.')
@minValue(0)
param cooldownPeriod int = 1800

@description('Storage account that holds the share (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string = 'aitkinfer${substring(uniqueString(resourceGroup().id), 0, 5)}'

@description('Azure Files share mounted at /mount (model, adapters, aitk/ folder).')
@minLength(3)
@maxLength(63)
param fileShareName string = 'aitk-inference'

@description('Container Apps managed environment.')
param acaEnvironmentName string = 'aitk-env-${substring(uniqueString(resourceGroup().id), 0, 5)}'

@description('The environment\'s Azure Files storage (link to the share).')
param acaEnvironmentStorageName string = 'aitk-share'

@description('Container app that runs the server.')
@minLength(2)
@maxLength(32)
param acaAppName string = 'aitk-infer-${substring(uniqueString(resourceGroup().id), 0, 5)}'

@description('Log Analytics workspace of the environment\'s logs.')
param acaLogAnalyticsName string = 'aitk-logs-${substring(uniqueString(resourceGroup().id), 0, 5)}'

@description('Container image (vLLM\'s OpenAI server image).')
param image string = 'vllm/vllm-openai:v0.32.0'

@description('Pull the image from the Azure Container Registry imageRegistryName (in imageRegistryResourceGroup) with a user-assigned managed identity that holds AcrPull on it (no admin user, no password), instead of from Docker Hub. `provision --image-registry` sets it.')
param imageFromRegistry bool = false

@description('The Azure Container Registry the image is pulled from when imageFromRegistry is true.')
param imageRegistryName string = ''

@description('The login server of that registry (e.g. myregistry.azurecr.io).')
param imageRegistryServer string = ''

@description('The resource group of that registry when it is not this one (another resource group of the subscription); empty: this resource group.')
param imageRegistryResourceGroup string = ''

@description('The endpoint\'s API key; kept only as the container app secret \'api-key\'.')
@secure()
param apiKey string

@description('The endpoint\'s second API key, accepted as well as apiKey so either can be rotated while clients use the other; kept only as the container app secret \'api-key-secondary\'.')
@secure()
param apiKeySecondary string

@description('Name of the GPU workload profile in the environment.')
param workloadProfileName string = 'gpu'

@description('GPU workload profile type: Consumption-GPU-NC8as-T4, Consumption-GPU-NC24-A100 (serverless) or NC24-A100, NC48-A100, NC96-A100 (dedicated).')
param workloadProfileType string = 'Consumption-GPU-NC8as-T4'

@description('True for a dedicated workload profile type (billed per node): the profile then gets minimumCount = minReplicas and maximumCount = maximumInstanceCount.')
param workloadProfileDedicated bool = false

@description('vCPUs of a replica, as a string (e.g. \'8.0\').')
param cpu string = '8.0'

@description('Memory of a replica (e.g. \'56Gi\').')
param memory string = '56Gi'

@description('The storage account exists: reuse it, do not deploy it.')
param storageAccountExists bool = false

@description('The file share exists: reuse it, do not deploy it.')
param fileShareExists bool = false

@description('The Container Apps environment exists: reuse it, do not deploy it.')
param acaEnvironmentExists bool = false

@description('The Log Analytics workspace exists: reuse it, do not deploy it.')
param acaLogAnalyticsExists bool = false

// Every resource this template creates carries the tag aitkProvisioned: 'inference', so that
// `delete` can find what a provision that did not finish left behind (fine-tuning's resources
// never carry it).
var shareResourceName = '${storageAccountName}/default/${fileShareName}'

// The identity the app pulls its image with: user-assigned, so its AcrPull role is in place
// before the app's first pull (https://learn.microsoft.com/azure/container-apps/managed-identity-image-pull).
var pullIdentityName = 'aitk-pull-${substring(uniqueString(resourceGroup().id), 0, 5)}'

// The registry's resource group; its AcrPull role assignment is deployed there (modules/acr-pull.bicep).
var imageRegistryGroup = empty(imageRegistryResourceGroup) ? resourceGroup().name : imageRegistryResourceGroup

// AcrPull, a built-in role: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/containers#acrpull
var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

var appIdentityPull = {
  type: 'UserAssigned'
  userAssignedIdentities: {
    '${pullIdentity.id}': {}
  }
}

var appIdentityNone = {
  type: 'None'
}

var registriesPull = [
  {
    server: imageRegistryServer
    identity: pullIdentity.id
  }
]

var registriesNone = []

var workloadProfilesServerless = [
  {
    name: 'Consumption'
    workloadProfileType: 'Consumption'
  }
  {
    name: workloadProfileName
    workloadProfileType: workloadProfileType
  }
]

var workloadProfilesDedicated = [
  {
    name: 'Consumption'
    workloadProfileType: 'Consumption'
  }
  {
    name: workloadProfileName
    workloadProfileType: workloadProfileType
    minimumCount: minReplicas
    maximumCount: maximumInstanceCount
  }
]

// Storage: deployed only when new; read through the `existing` symbols below either way.
resource storageAccountNew 'Microsoft.Storage/storageAccounts@2025-06-01' = if (!storageAccountExists) {
  name: storageAccountName
  location: location
  tags: {
    aitkProvisioned: 'inference'
  }
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: true // the Container Apps Azure Files mount authenticates with the account key
    largeFileSharesState: 'Enabled'
  }
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-06-01' existing = {
  name: storageAccountName
}

resource fileShareNew 'Microsoft.Storage/storageAccounts/fileServices/shares@2025-06-01' = if (!fileShareExists) {
  name: shareResourceName
  properties: {
    shareQuota: 1024
    enabledProtocols: 'SMB'
  }
  dependsOn: [
    storageAccountNew
  ]
}

resource logAnalyticsNew 'Microsoft.OperationalInsights/workspaces@2025-02-01' = if (!acaLogAnalyticsExists) {
  name: acaLogAnalyticsName
  location: location
  tags: {
    aitkProvisioned: 'inference'
  }
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: acaLogAnalyticsName
}

resource acaEnvironmentNew 'Microsoft.App/managedEnvironments@2025-07-01' = if (!acaEnvironmentExists) {
  name: acaEnvironmentName
  location: location
  tags: {
    aitkProvisioned: 'inference'
  }
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logAnalytics.properties.customerId
        sharedKey: logAnalytics.listKeys().primarySharedKey
      }
    }
    workloadProfiles: workloadProfileDedicated ? workloadProfilesDedicated : workloadProfilesServerless
  }
  dependsOn: [
    logAnalyticsNew
  ]
}

resource acaEnvironment 'Microsoft.App/managedEnvironments@2025-07-01' existing = {
  name: acaEnvironmentName
}

resource environmentStorage 'Microsoft.App/managedEnvironments/storages@2025-07-01' = {
  parent: acaEnvironment
  name: acaEnvironmentStorageName
  properties: {
    azureFile: {
      accountName: storageAccountName
      accountKey: storageAccount.listKeys().keys[0].value
      shareName: fileShareName
      accessMode: 'ReadWrite'
    }
  }
  dependsOn: [
    acaEnvironmentNew
    fileShareNew
    storageAccountNew
  ]
}

resource imageRegistry 'Microsoft.ContainerRegistry/registries@2025-04-01' existing = {
  name: imageRegistryName
  scope: resourceGroup(imageRegistryGroup)
}

resource pullIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (imageFromRegistry) {
  name: pullIdentityName
  location: location
  tags: {
    aitkProvisioned: 'inference'
  }
}

module pullRole 'modules/acr-pull.bicep' = if (imageFromRegistry) {
  name: 'aitk-acr-pull-${substring(uniqueString(resourceGroup().id), 0, 5)}'
  scope: resourceGroup(imageRegistryGroup)
  params: {
    registryName: imageRegistryName
    roleAssignmentName: guid(imageRegistry.id, pullIdentity.id, acrPullRoleId)
    principalId: pullIdentity.properties.principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
  }
  dependsOn: [
    pullIdentity
  ]
}

resource app 'Microsoft.App/containerApps@2025-07-01' = {
  name: acaAppName
  location: location
  tags: {
    aitkProvisioned: 'inference'
  }
  identity: imageFromRegistry ? appIdentityPull : appIdentityNone
  properties: {
    managedEnvironmentId: acaEnvironment.id
    workloadProfileName: workloadProfileName
    configuration: {
      activeRevisionsMode: 'Single'
      registries: imageFromRegistry ? registriesPull : registriesNone
      secrets: [
        {
          name: 'api-key'
          value: apiKey
        }
        {
          name: 'api-key-secondary'
          value: apiKeySecondary
        }
      ]
      ingress: {
        external: true
        targetPort: 8000
        transport: 'auto'
        allowInsecure: false
      }
    }
    template: {
      containers: [
        {
          name: 'inference'
          image: image
          command: defaultCommands
          env: [
            {
              name: 'AITK_API_KEY'
              secretRef: 'api-key'
            }
            {
              name: 'AITK_API_KEY_SECONDARY'
              secretRef: 'api-key-secondary'
            }
            {
              name: 'AITK_MOUNT'
              value: '/mount'
            }
            {
              name: 'PYTHONPATH'
              value: '/mount/aitk/launcher'
            }
            // vLLM's model-info and torch.compile caches and Hugging Face's on the share, so they
            // survive cold starts (docs/serving.md "Cold starts")
            {
              name: 'VLLM_CACHE_ROOT'
              value: '/mount/aitk/cache/vllm'
            }
            {
              name: 'HF_HOME'
              value: '/mount/aitk/cache/huggingface'
            }
          ]
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          volumeMounts: [
            {
              volumeName: 'share'
              mountPath: '/mount'
            }
          ]
          // docs/serving.md "Probes": start-up budget 10 + 95 x 10 = 960 s for loading a large model,
          // polled every 10 s so a ready server takes traffic within 10 s.
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/health'
                port: 8000
              }
              initialDelaySeconds: 10
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 95
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/health'
                port: 8000
              }
              initialDelaySeconds: 60
              periodSeconds: 30
              timeoutSeconds: 10
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/health'
                port: 8000
              }
              initialDelaySeconds: 0
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 3
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'share'
          storageType: 'AzureFile'
          storageName: acaEnvironmentStorageName
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maximumInstanceCount
        cooldownPeriod: cooldownPeriod
        // The HTTP rule counts the requests of each 15 s window / 15 (scale-app.md) against
        // concurrentRequests: provision sets it to what one replica carries (scaleConcurrentRequests).
        rules: [
          {
            name: 'http-concurrency'
            http: {
              metadata: {
                concurrentRequests: string(scaleConcurrentRequests)
              }
            }
          }
        ]
      }
    }
  }
  dependsOn: [
    acaEnvironmentNew
    environmentStorage
    pullRole
  ]
}

output SUBSCRIPTION_ID string = subscription().subscriptionId
output RESOURCE_GROUP_NAME string = resourceGroup().name
output STORAGE_ACCOUNT_NAME string = storageAccountName
output FILE_SHARE_NAME string = fileShareName
output ACA_APP_NAME string = acaAppName
output ACA_APP_ENDPOINT string = 'https://${app.properties.configuration.ingress.fqdn}'
