using System.Text.Json.Serialization;

namespace PortableLb.Kubernetes.Models;

/// <summary>Kubernetes JSON: camelCase, unknown fields tolerated (newer API servers add fields), nulls omitted on write.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(Service))]
[JsonSerializable(typeof(EndpointSlice))]
[JsonSerializable(typeof(ConfigMap))]
[JsonSerializable(typeof(ObjectMeta))]
public sealed partial class KubernetesJsonContext : JsonSerializerContext;
