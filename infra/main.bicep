// The whole audience export pipeline on Azure Functions Flex Consumption, in one resource group:
//   az deployment group create -g RG -p infra/main.bicepparam   (infra/README.md)
// Redeploying with the same parameters changes nothing: every name is derived from the parameters and the
// resource group, and no template creates a secret or a key.
targetScope = 'resourceGroup'

@description('Short name of the environment, e.g. dev, test, prod; part of every resource name.')
@minLength(1)
@maxLength(12)
param environmentName string

@description('Short name of the product in resource names (lowercase letters and digits).')
@minLength(2)
@maxLength(8)
param baseName string = 'audexp'

@description('Azure region; one that offers Flex Consumption.')
param location string = resourceGroup().location

@description('Tags for every resource.')
param tags object = {}

@description('Memory per Function App instance in MB (2048 = 1 core).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to (Flex Consumption accepts 40 to 1,000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Days after which staged chunks under staging/ are deleted by the storage lifecycle rule.')
@minValue(1)
@maxValue(365)
param stagingRetentionDays int = 3

@description('Storage redundancy.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSkuName string = 'Standard_LRS'

@description('Days Log Analytics keeps telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('Days a deleted Key Vault secret stays recoverable.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Names of the Key Vault secrets the activations refer to (secretName); values are set by operators, never here.')
param keyVaultSecretNames string[] = []

@description('ARN of our AWS role the app federates into for assumeRole without secretName (AWS_ROLE_ARN); empty if unused.')
param awsRoleArn string = ''

@description('Object id of the user or workload that deploys; gets write access to the config container and Key Vault Secrets Officer. Empty: none.')
param deployerPrincipalId string = ''

@description('Kind of principal deployerPrincipalId is.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param deployerPrincipalType string = 'User'

// Names the Functions app uses (functions/Pipeline.Functions); change them only together with the app.
var stageQueues = [
  'plan-export'
  'build-slice'
  'assemble-files'
  'upload-part'
  'complete-export'
]
var tables = [
  'pipelineRuns'
  'pipelineActivations'
  'pipelineUnfinished'
]
var stagingContainer = 'staging'
var configContainer = 'config'
var packageContainer = 'app-package'
var containers = [
  stagingContainer
  'snapshots'
  configContainer
  'run-documents'
  packageContainer
]

// Stable per resource group and environment, so a redeploy targets the same globally unique names.
var token = uniqueString(subscription().id, resourceGroup().id, environmentName)
var allTags = union(tags, { 'azd-env-name': environmentName })

module identity 'app/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-${baseName}-${environmentName}'
    location: location
    tags: allTags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  params: {
    name: toLower('st${baseName}${token}')
    location: location
    tags: allTags
    skuName: storageSkuName
    stagingRetentionDays: stagingRetentionDays
    stageQueues: stageQueues
    tables: tables
    containers: containers
    stagingContainer: stagingContainer
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    workspaceName: 'log-${baseName}-${environmentName}-${token}'
    appInsightsName: 'appi-${baseName}-${environmentName}-${token}'
    location: location
    tags: allTags
    retentionInDays: logRetentionInDays
  }
}

module vault 'app/vault.bicep' = {
  name: 'vault'
  params: {
    name: toLower('kv${baseName}${take(token, 12)}')
    location: location
    tags: allTags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    configContainer: configContainer
    keyVaultName: vault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

module functionApp 'app/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: 'func-${baseName}-${environmentName}-${take(token, 6)}'
    planName: 'plan-${baseName}-${environmentName}'
    location: location
    tags: allTags
    azdServiceName: 'functions'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    packageContainer: packageContainer
    keyVaultUri: vault.outputs.uri
    appInsightsName: monitoring.outputs.appInsightsName
    awsRoleArn: awsRoleArn
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
  // The identity holds its storage roles before the platform first reads the package container.
  dependsOn: [
    rbac
  ]
}

output functionAppName string = functionApp.outputs.name
output functionAppUrl string = functionApp.outputs.url
output identityPrincipalId string = identity.outputs.principalId
output identityClientId string = identity.outputs.clientId
output storageAccountName string = storage.outputs.name
output configUri string = '${storage.outputs.blobEndpoint}${configContainer}/pipeline.json'
output keyVaultName string = vault.outputs.name
output keyVaultUri string = vault.outputs.uri
@description('Secrets operators set after deploying (infra/README.md); names only.')
output keyVaultSecretNames string[] = keyVaultSecretNames

// What an AWS IAM OIDC provider and our role's trust policy need for assumeRole by web identity: the app
// asks Entra for a token for the audience below, issued by the tenant's v1 issuer, with the identity's
// object id as subject (lib/Pipeline.Azure/Federation/ManagedIdentityTokenProvider.cs).
output webIdentityIssuer string = 'https://sts.windows.net/${tenant().tenantId}/'
output webIdentityAudience string = 'api://AzureADTokenExchange'
output webIdentitySubject string = identity.outputs.principalId

// azd reads these to find the resource group's app when it deploys the package.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
