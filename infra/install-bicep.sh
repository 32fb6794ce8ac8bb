#!/usr/bin/env bash
# Prints the path of the pinned bicep CLI, restoring it from NuGet first if it is not in the package cache.
# Used by infra/check.sh, the infra tests and the deploy workflow, so all three run the same bicep.
set -euo pipefail

version="0.49.2"
package="azure.bicep.commandline.linux-x64"
packages="$(dotnet nuget locals global-packages --list --force-english-output | sed -n 's/^global-packages: //p')"
bicep="${packages%/}/$package/$version/tools/bicep"

if [[ ! -f "$bicep" ]]; then
  # A throwaway project outside the repo: no Directory.Build.props or central package versions apply.
  project="$(mktemp -d)"
  trap 'rm -rf "$project"' EXIT
  cat > "$project/bicep.csproj" <<PROJECT
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="Azure.Bicep.CommandLine.linux-x64" Version="[$version]" />
  </ItemGroup>
</Project>
PROJECT
  dotnet restore "$project/bicep.csproj" --verbosity quiet >&2
fi

# NuGet extracts files without their execute bit for anyone but the owner on some systems.
[[ -x "$bicep" ]] || chmod +x "$bicep"
echo "$bicep"
