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
[JsonSerializable(typeof(Secret))]
[JsonSerializable(typeof(Pod))]
[JsonSerializable(typeof(Lease))]
[JsonSerializable(typeof(Event))]
[JsonSerializable(typeof(Status))]
[JsonSerializable(typeof(ObjectMeta))]
[JsonSerializable(typeof(WatchEvent))]
[JsonSerializable(typeof(ObjectList<Service>))]
[JsonSerializable(typeof(ObjectList<EndpointSlice>))]
[JsonSerializable(typeof(ObjectList<ConfigMap>))]
[JsonSerializable(typeof(ObjectList<Secret>))]
[JsonSerializable(typeof(ObjectList<Pod>))]
[JsonSerializable(typeof(ObjectList<Lease>))]
[JsonSerializable(typeof(ObjectList<Event>))]
[JsonSerializable(typeof(ExecCredential))]
public sealed partial class KubernetesJsonContext : JsonSerializerContext;
