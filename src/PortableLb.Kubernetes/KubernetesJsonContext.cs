using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace PortableLb.Kubernetes;

/// <summary>
/// Source-generated JSON for the package's models of the kinds PortableLb reads and writes, with the package's own
/// options and converters. The package's SourceGenerationContext would do the same work, but it resolves every one of
/// the API's ~1,900 types: a NativeAOT binary that touches it is twice as large, and `run` held about 30 MiB more
/// (docs/benchmarks.md). This context generates only the types these kinds reach.
/// </summary>
[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true,
    Converters = [typeof(KubernetesJson.Iso8601TimeSpanConverter), typeof(KubernetesJson.KubernetesDateTimeConverter), typeof(KubernetesJson.KubernetesDateTimeOffsetConverter)])]
[JsonSerializable(typeof(V1Service))]
[JsonSerializable(typeof(V1ServiceList))]
[JsonSerializable(typeof(V1EndpointSlice))]
[JsonSerializable(typeof(V1EndpointSliceList))]
[JsonSerializable(typeof(V1ConfigMap))]
[JsonSerializable(typeof(V1ConfigMapList))]
[JsonSerializable(typeof(V1Secret))]
[JsonSerializable(typeof(V1SecretList))]
[JsonSerializable(typeof(V1Pod))]
[JsonSerializable(typeof(V1PodList))]
[JsonSerializable(typeof(V1Lease))]
[JsonSerializable(typeof(V1LeaseList))]
[JsonSerializable(typeof(Eventsv1Event))]
[JsonSerializable(typeof(Eventsv1EventList))]
[JsonSerializable(typeof(V1Status))]
[JsonSerializable(typeof(WatchEvent))]
public sealed partial class KubernetesJsonContext : JsonSerializerContext;
