using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Pipeline.Infra.Tests.Bicep;

/// <summary>
/// A bicep deployment snapshot: every resource the deployment would create, with each value bicep can work
/// out before deploying (names, ids, literals) resolved, and runtime values left as ARM expressions.
/// </summary>
internal sealed partial class Snapshot
{
    private const string RoleAssignmentType = "Microsoft.Authorization/roleAssignments";

    // ARM's guid(): a name-based (SHA-1) UUID in this namespace over the arguments joined by '-'.
    private static readonly Guid ArmGuidNamespace = new("11fb06fb-712d-4ddd-98c7-e71bbd588830");

    public Snapshot(JsonObject document)
    {
        Document = document;
        Resources = document["predictedResources"]!.AsArray().Select(r => r!.AsObject()).ToList();
        Outputs = document["outputs"]!.AsObject();
    }

    public JsonObject Document { get; }

    public IReadOnlyList<JsonObject> Resources { get; }

    public JsonObject Outputs { get; }

    public IReadOnlyList<JsonObject> OfType(string type) =>
        Resources.Where(r => string.Equals((string?)r["type"], type, StringComparison.OrdinalIgnoreCase)).ToList();

    /// <summary>The one resource of <paramref name="type"/>; fails if there are none or several.</summary>
    public JsonObject Single(string type)
    {
        var found = OfType(type);
        return found.Count == 1
            ? found[0]
            : throw new AssertionException($"expected one {type}, found {found.Count}: {string.Join(", ", found.Select(r => (string?)r["name"]))}");
    }

    public string IdOf(string type) => (string)Single(type)["id"]!;

    /// <summary>The ARM expression of a property of a resource the deployment creates, read at runtime.</summary>
    public string ReferenceOf(string type, string apiVersion, string property) =>
        $"reference('{IdOf(type)}', '{apiVersion}').{property}";

    public IReadOnlyList<RoleAssignment> RoleAssignments() => OfType(RoleAssignmentType).Select(ParseRoleAssignment).ToList();

    private static RoleAssignment ParseRoleAssignment(JsonObject resource)
    {
        var id = (string)resource["id"]!;
        var name = (string)resource["name"]!;
        var properties = resource["properties"]!.AsObject();
        var principalId = (string)properties["principalId"]!;
        var principalType = (string?)properties["principalType"];
        var roleDefinitionId = (string)properties["roleDefinitionId"]!;
        var roleId = roleDefinitionId[(roleDefinitionId.LastIndexOf('/') + 1)..];

        // Resolved when every input is known before deploying (a given principal id), an expression otherwise;
        // an id of any other shape keeps the whole id as its scope, so the comparison shows it as unexpected.
        string scope;
        bool nameIsGuidOfScopePrincipalRole;
        var onResource = ExtensionIdExpression().Match(id);
        var onGroup = ResourceGroupIdExpression().Match(id);
        var marker = $"/providers/{RoleAssignmentType}/";
        var at = id.LastIndexOf(marker, StringComparison.OrdinalIgnoreCase);
        if (onResource.Success || onGroup.Success)
        {
            var match = onResource.Success ? onResource : onGroup;
            scope = onResource.Success
                ? match.Groups["scope"].Value
                : $"/subscriptions/{match.Groups["subscription"].Value}/resourceGroups/{match.Groups["group"].Value}";
            var principalExpression = principalId.StartsWith('[') ? principalId[1..^1] : $"'{principalId}'";
            nameIsGuidOfScopePrincipalRole = name == $"[guid('{scope}', {principalExpression}, '{roleId}')]"
                && match.Groups["name"].Value == name[1..^1];
        }
        else if (!id.StartsWith('[') && at >= 0)
        {
            scope = id[..at];
            nameIsGuidOfScopePrincipalRole = name == ArmGuid(scope, principalId, roleId).ToString() && id[(at + marker.Length)..] == name;
        }
        else
        {
            scope = id;
            nameIsGuidOfScopePrincipalRole = false;
        }

        return new RoleAssignment(scope, principalId, principalType, roleDefinitionId, roleId, nameIsGuidOfScopePrincipalRole);
    }

    /// <summary>What ARM's <c>guid(a, b, ...)</c> returns.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "SHA-1 is what ARM's name-based guid() is defined with; nothing is protected by it.")]
    public static Guid ArmGuid(params string[] parts)
    {
        var namespaceBytes = ArmGuidNamespace.ToByteArray(bigEndian: true);
        var nameBytes = Encoding.UTF8.GetBytes(string.Join('-', parts));
        var hash = SHA1.HashData([.. namespaceBytes, .. nameBytes]);
        var bytes = hash[..16];
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x50);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }

    [GeneratedRegex(@"^\[resourceId\('(?<subscription>[^']+)', '(?<group>[^']+)', 'Microsoft\.Authorization/roleAssignments', (?<name>guid\(.+\))\)\]$")]
    private static partial Regex ResourceGroupIdExpression();

    [GeneratedRegex(@"^\[extensionResourceId\('(?<scope>[^']+)', 'Microsoft\.Authorization/roleAssignments', (?<name>guid\(.+\))\)\]$")]
    private static partial Regex ExtensionIdExpression();
}

/// <summary>One role assignment: who gets which role on what.</summary>
internal sealed record RoleAssignment(
    string Scope,
    string PrincipalId,
    string? PrincipalType,
    string RoleDefinitionId,
    string RoleId,
    bool NameIsGuidOfScopePrincipalRole);
