// The image pull identity's AcrPull role on the container registry, deployed in the registry's
// resource group: a role assignment is deployed where its scope is, so a registry of another
// resource group needs a module there
// (https://learn.microsoft.com/azure/role-based-access-control/role-assignments-template#scope,
// https://learn.microsoft.com/azure/azure-resource-manager/templates/deploy-to-resource-group#deploy-to-multiple-resource-groups).

@description('The container registry (in this module\'s resource group).')
param registryName string

@description('The role assignment\'s name: a GUID the parent derives, the same on every provision.')
param roleAssignmentName string

@description('The principal id of the pull identity.')
param principalId string

@description('The AcrPull role definition id.')
param roleDefinitionId string

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' existing = {
  name: registryName
}

resource pullRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: roleAssignmentName
  scope: registry
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
