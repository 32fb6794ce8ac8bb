// The Flex Consumption plan and the Function App. The runtime comes from functionAppConfig, so none of
// the settings Flex rejects (FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE,
// WEBSITE_CONTENT*) is set; every connection is identity-based.

@description('Name of the Function App (globally unique: it is the host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region (one that offers Flex Consumption).')
param location string

@description('Tags for every resource.')
param tags object

@description('Service name azd deploys the app package to (azure.yaml services key).')
param azdServiceName string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Blob endpoint of the storage account, with its trailing slash.')
param blobEndpoint string

@description('Queue endpoint of the storage account, with its trailing slash.')
param queueEndpoint string

@description('Table endpoint of the storage account, with its trailing slash.')
param tableEndpoint string

@description('Container the deployment package is uploaded to.')
param packageContainer string

@description('Key Vault URI.')
param keyVaultUri string

@description('Application Insights component the app sends telemetry to.')
param appInsightsName string

@description('Our AWS role for web-identity federation (AWS_ROLE_ARN); empty when no activation uses it.')
param awsRoleArn string

@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

// Both connections use the same account: AzureWebJobsStorage for the host (timer locks, queue triggers'
// bookkeeping), PipelineStorage for the pipeline's queues, tables and blobs.
var storageConnectionSettings = flatten(map(
  [
    'AzureWebJobsStorage'
    'PipelineStorage'
  ],
  connection => [
    { name: '${connection}__blobServiceUri', value: blobEndpoint }
    { name: '${connection}__queueServiceUri', value: queueEndpoint }
    { name: '${connection}__tableServiceUri', value: tableEndpoint }
    { name: '${connection}__credential', value: 'managedidentity' }
    { name: '${connection}__clientId', value: identityClientId }
  ]
))

var pipelineSettings = [
  // No config location setting: the app reads pipeline.json from PipelineStorage's config container (PublishedConfig).
  { name: 'Pipeline__KeyVaultUri', value: keyVaultUri }
  // DefaultAzureCredential and the AWS web-identity token pick the user-assigned identity by this id.
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
  // Read here, not passed through a module output, so no deployment record holds it; with local auth off on
  // the component it cannot ingest without the identity's token anyway.
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD;ClientId=${identityClientId}' }
]

// Only when set: an empty AWS_ROLE_ARN would read as "configured" to the AWS SDK's default chain.
var awsSettings = empty(awsRoleArn) ? [] : [{ name: 'AWS_ROLE_ARN', value: awsRoleArn }]

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    // Linux.
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': azdServiceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${packageContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: []
      }
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: concat(storageConnectionSettings, pipelineSettings, awsSettings)
    }
  }
}

// Deploys go through Entra (az, azd, the workflow's OIDC login), never publishing profiles.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = app.name
output url string = 'https://${app.properties.defaultHostName}'
output planName string = plan.name
