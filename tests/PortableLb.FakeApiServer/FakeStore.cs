using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using PortableLb.Kubernetes;
using k8s;
using k8s.Models;

namespace PortableLb.Testing.FakeApi;

public sealed record StoreError(HttpStatusCode Code, string Reason, string Message);

public sealed record StoreResult(JsonObject? Object, StoreError? Error)
{
    public static StoreResult Ok(JsonObject obj) => new(obj, null);
    public static StoreResult Fail(HttpStatusCode code, string reason, string message) => new(null, new StoreError(code, reason, message));
}

/// <summary>
/// The fake server's etcd: objects per resource, one monotonically increasing resourceVersion, and the event history
/// that watches replay from. Compaction drops history, after which older versions answer 410.
/// </summary>
public sealed class FakeStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, SortedDictionary<(string Namespace, string Name), JsonObject>> _objects = [];
    private readonly List<(long Version, string Resource, string Type, JsonObject Object, JsonObject? Previous)> _history = [];
    private readonly List<(WatchStream Stream, string? Namespace, Selector Selector)> _subscribers = [];
    private long _version = 1000;

    public long ResourceVersion { get { lock (_lock) return _version; } }

    /// <summary>
    /// Called under the store's lock after every change, with the changed resource's objects as they now are: a test
    /// can check an invariant on every state the API ever held, not only on the states it happens to poll.
    /// </summary>
    public Action<string, IReadOnlyCollection<JsonObject>>? Committed { get; set; }
    public long CompactedAt { get; private set; }

    public static string Key<T>(ResourceType<T> type) where T : class, IKubernetesObject<V1ObjectMeta> => $"{type.Group}/{type.Plural}";

    /// <summary>Serialized without attaching obj to a new parent: the same stored node goes out on many streams.</summary>
    public static string EventLine(string type, JsonObject obj) => $"{{\"type\":\"{type}\",\"object\":{obj.ToJsonString()}}}";

    // ---- typed helpers for tests ----

    public long Apply<T>(ResourceType<T> type, T obj) where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var json = (JsonObject)JsonSerializer.SerializeToNode(obj, type.Item)!;
        json["apiVersion"] = type.ApiVersion;
        json["kind"] = ApiPath.KindOf(type.Plural);
        return Upsert(Key(type), json);
    }

    /// <summary>
    /// As a client's update of the object itself reaches a real API server: the status stays as stored, whatever
    /// the object carries (status is a subresource), so a test's edit can never undo a controller's status write.
    /// </summary>
    public long Update<T>(ResourceType<T> type, T obj) where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            var json = (JsonObject)JsonSerializer.SerializeToNode(obj, type.Item)!;
            json["apiVersion"] = type.ApiVersion;
            json["kind"] = ApiPath.KindOf(type.Plural);
            var key = (obj.Metadata.NamespaceProperty ?? "", obj.Metadata.Name);
            json.Remove("status");
            if (Items(Key(type)).TryGetValue(key, out var stored) && stored["status"] is { } status) json["status"] = status.DeepClone();
            return Upsert(Key(type), json);
        }
    }

    public bool Delete<T>(ResourceType<T> type, string ns, string name) where T : class, IKubernetesObject<V1ObjectMeta> => Delete(Key(type), ns, name);

    public IReadOnlyList<T> All<T>(ResourceType<T> type) where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            return _objects.TryGetValue(Key(type), out var items) ? items.Values.Select(o => o.Deserialize(type.Item)!).ToList() : [];
        }
    }

    // ---- the API's operations ----

    public long Upsert(string resource, JsonObject obj)
    {
        lock (_lock)
        {
            var metadata = obj["metadata"] as JsonObject ?? throw new InvalidOperationException("metadata is required");
            var key = (metadata["namespace"]?.GetValue<string>() ?? "", metadata["name"]!.GetValue<string>());
            var items = Items(resource);
            items.TryGetValue(key, out var previous);
            metadata["resourceVersion"] = (++_version).ToString();
            metadata["uid"] ??= (previous?["metadata"]?["uid"]?.GetValue<string>()) ?? Guid.NewGuid().ToString();
            items[key] = obj;
            Record(resource, previous is null ? "ADDED" : "MODIFIED", obj, previous);
            return _version;
        }
    }

    public bool Delete(string resource, string ns, string name)
    {
        lock (_lock)
        {
            if (!Items(resource).Remove((ns, name), out var removed)) return false;
            var final = (JsonObject)removed.DeepClone();
            final["metadata"]!["resourceVersion"] = (++_version).ToString();
            Record(resource, "DELETED", final, removed);
            return true;
        }
    }

    public void Compact()
    {
        lock (_lock)
        {
            CompactedAt = _version;
            _history.Clear();
        }
    }

    public JsonObject List(string resource, string? ns, Selector selector, int limit, string? continueToken)
    {
        lock (_lock)
        {
            // continue = "<list version>:<offset>": later pages report the first page's version, as the real server does.
            var (listVersion, offset) = continueToken is { Length: > 0 } token && token.Split(':') is [var v, var o]
                ? (long.Parse(v), int.Parse(o))
                : (_version, 0);
            var matching = Items(resource).Where(kv => ns is null || kv.Key.Namespace == ns).Select(kv => kv.Value).Where(selector.Matches).ToList();
            var page = matching.Skip(offset).Take(limit).ToList();
            var more = offset + page.Count < matching.Count;
            var plural = resource.Split('/')[1];
            return new JsonObject
            {
                ["kind"] = ApiPath.KindOf(plural) + "List",
                ["apiVersion"] = "v1",
                ["metadata"] = new JsonObject
                {
                    ["resourceVersion"] = listVersion.ToString(),
                    ["continue"] = more ? $"{listVersion}:{offset + page.Count}" : null,
                },
                ["items"] = new JsonArray(page.Select(p => (JsonNode)p.DeepClone()).ToArray()),
            };
        }
    }

    public StoreResult Get(string resource, string? ns, string? name)
    {
        lock (_lock)
        {
            return Items(resource).TryGetValue((ns ?? "", name ?? ""), out var obj)
                ? StoreResult.Ok((JsonObject)obj.DeepClone())
                : StoreResult.Fail(HttpStatusCode.NotFound, "NotFound", $"{resource} \"{name}\" not found");
        }
    }

    public StoreResult Create(string resource, string? ns, JsonObject obj)
    {
        lock (_lock)
        {
            var metadata = obj["metadata"] as JsonObject ?? new JsonObject();
            obj["metadata"] = metadata;
            metadata["namespace"] = ns;
            var name = metadata["name"]?.GetValue<string>();
            if (name is null && metadata["generateName"]?.GetValue<string>() is { } prefix)
            {
                metadata["name"] = name = prefix + Guid.NewGuid().ToString("N")[..5];
            }
            if (name is null) return StoreResult.Fail(HttpStatusCode.UnprocessableEntity, "Invalid", "metadata.name is required");
            if (Items(resource).ContainsKey((ns ?? "", name))) return StoreResult.Fail(HttpStatusCode.Conflict, "AlreadyExists", $"{resource} \"{name}\" already exists");
            metadata["creationTimestamp"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ");
            Upsert(resource, obj);
            return StoreResult.Ok((JsonObject)obj.DeepClone());
        }
    }

    public StoreResult Replace(string resource, string? ns, string name, JsonObject obj)
    {
        lock (_lock)
        {
            if (!Items(resource).TryGetValue((ns ?? "", name), out var current)) return StoreResult.Fail(HttpStatusCode.NotFound, "NotFound", $"{resource} \"{name}\" not found");
            var sent = obj["metadata"]?["resourceVersion"]?.GetValue<string>();
            var stored = current["metadata"]!["resourceVersion"]!.GetValue<string>();
            if (sent != stored)
            {
                return StoreResult.Fail(HttpStatusCode.Conflict, "Conflict",
                    $"Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again");
            }
            obj["metadata"]!["namespace"] = ns;
            Upsert(resource, obj);
            return StoreResult.Ok((JsonObject)obj.DeepClone());
        }
    }

    /// <summary>/status: only the status field of a JSON merge patch (RFC 7386) is applied, as the real subresource does.</summary>
    public StoreResult PatchStatus(string resource, string? ns, string name, JsonObject patch)
    {
        lock (_lock)
        {
            if (!Items(resource).TryGetValue((ns ?? "", name), out var current)) return StoreResult.Fail(HttpStatusCode.NotFound, "NotFound", $"{resource} \"{name}\" not found");
            // A resourceVersion in the patch is a precondition, as on a real server.
            if (patch["metadata"]?["resourceVersion"]?.GetValue<string>() is { } expected && expected != current["metadata"]!["resourceVersion"]!.GetValue<string>())
            {
                return StoreResult.Fail(HttpStatusCode.Conflict, "Conflict",
                    $"Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again");
            }
            var updated = (JsonObject)current.DeepClone();
            if (patch["status"] is { } status) updated["status"] = MergePatch(updated["status"], status);
            Upsert(resource, updated);
            return StoreResult.Ok((JsonObject)updated.DeepClone());
        }
    }

    // ---- watches ----

    public bool Subscribe(string resource, string? ns, Selector selector, long from, WatchStream stream, out List<string> replay)
    {
        lock (_lock)
        {
            replay = [];
            if (from != 0 && from < CompactedAt) return false;
            if (from == 0)
            {
                // No version: the current state as ADDED events, then changes.
                replay.AddRange(Items(resource).Where(kv => ns is null || kv.Key.Namespace == ns).Select(kv => kv.Value).Where(selector.Matches).Select(o => EventLine("ADDED", o)));
            }
            else
            {
                foreach (var entry in _history.Where(h => h.Version > from && h.Resource == resource))
                {
                    if (Translate(entry.Type, entry.Object, entry.Previous, ns, selector) is { } line) replay.Add(line);
                }
            }
            _subscribers.Add((stream, ns, selector));
            return true;
        }
    }

    public void Unsubscribe(WatchStream stream)
    {
        lock (_lock) _subscribers.RemoveAll(s => s.Stream == stream);
    }

    private void Record(string resource, string type, JsonObject obj, JsonObject? previous)
    {
        var snapshot = (JsonObject)obj.DeepClone();
        _history.Add((_version, resource, type, snapshot, previous));
        foreach (var (stream, ns, selector) in _subscribers)
        {
            if (stream.Path.Resource == resource && Translate(type, snapshot, previous, ns, selector) is { } line) stream.Send(line);
        }
        Committed?.Invoke(resource, Items(resource).Values.ToList());
    }

    /// <summary>What a selective watch sees: an object leaving the selection is DELETED for it, one entering is ADDED.</summary>
    private static string? Translate(string type, JsonObject obj, JsonObject? previous, string? ns, Selector selector)
    {
        if (ns is not null && obj["metadata"]?["namespace"]?.GetValue<string>() != ns) return null;
        var now = selector.Matches(obj);
        var before = previous is not null && selector.Matches(previous);
        return (type, before, now) switch
        {
            ("DELETED", true, _) => EventLine("DELETED", obj),
            ("DELETED", false, _) => null,
            ("MODIFIED", true, false) => EventLine("DELETED", obj),
            ("MODIFIED", false, true) => EventLine("ADDED", obj),
            (_, _, true) => EventLine(type, obj),
            _ => null,
        };
    }

    private SortedDictionary<(string Namespace, string Name), JsonObject> Items(string resource)
    {
        if (!_objects.TryGetValue(resource, out var items)) _objects[resource] = items = [];
        return items;
    }

    private static JsonNode? MergePatch(JsonNode? target, JsonNode patch)
    {
        if (patch is not JsonObject patchObject) return patch.DeepClone();
        var result = target as JsonObject is { } existing ? (JsonObject)existing.DeepClone() : new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (value is null) result.Remove(key);
            else result[key] = MergePatch(result[key], value);
        }
        return result;
    }
}
