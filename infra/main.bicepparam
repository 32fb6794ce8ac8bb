// A typical production environment. azd sets AZURE_ENV_NAME; with plain az the default applies.
using 'main.bicep'

param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'prod')
param baseName = 'audexp'
param tags = {
  product: 'audience-export'
}
param instanceMemoryMB = 2048
param maximumInstanceCount = 100
param stagingRetentionDays = 3
param storageSkuName = 'Standard_ZRS'
param logRetentionInDays = 30
param keyVaultSoftDeleteRetentionInDays = 90
// The secretName values of pipeline.json; set each with az keyvault secret set (infra/README.md).
param keyVaultSecretNames = [
  'pipeline-aws-key'
]
param awsRoleArn = readEnvironmentVariable('PIPELINE_AWS_ROLE_ARN', '')
param deployerPrincipalId = readEnvironmentVariable('PIPELINE_DEPLOYER_PRINCIPAL_ID', '')
param deployerPrincipalType = readEnvironmentVariable('PIPELINE_DEPLOYER_PRINCIPAL_TYPE', 'ServicePrincipal')
