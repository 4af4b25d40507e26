using PortableLb.Common;
using PortableLb.Model;

namespace PortableLb.Reconcile;

/// <summary>One line of a Service's story: a Normal Event to record.</summary>
public sealed record StoryEvent(ServiceName Service, string Reason, string Note);

/// <summary>
/// What this LB pod announces for each Service, told as Normal Events once per change: `Announced` when exabgp has
/// loaded a config with the Service's routes, `Withdrawn` when it has loaded one without them, each saying why.
/// Only a confirmed load counts: until exabgp confirms, its peers still hear the old routes.
/// </summary>
public sealed class AnnouncementStory(string podName)
{
    private Dictionary<ServiceName, ValueList<Announcement>> _told = [];

    /// <summary>
    /// The changes since the last confirmed load, given what exabgp now runs (<paramref name="live"/>), which Services
    /// the build accepted, and which still exist. A Service that no longer exists gets no Event: nobody could read it.
    /// </summary>
    public IReadOnlyList<StoryEvent> Tell(DesiredState live, IReadOnlySet<ServiceName> accepted, IReadOnlySet<ServiceName> existing)
    {
        var now = live.Announcements
            .SelectMany(a => a.Services.Select(s => (Service: s, Announcement: a)))
            .GroupBy(x => x.Service)
            .ToDictionary(g => g.Key, g => g.Select(x => x.Announcement with { Services = ValueList.Of(g.Key) }).ToValueList());
        var events = new List<StoryEvent>();
        foreach (var (service, announcements) in now.OrderBy(n => n.Key))
        {
            if (_told.TryGetValue(service, out var before) && before.Equals(announcements)) continue;
            events.Add(new StoryEvent(service, "Announced", $"{podName} announces {Routes(announcements)} over BGP"));
        }
        foreach (var (service, before) in _told.Where(t => !now.ContainsKey(t.Key) && existing.Contains(t.Key)).OrderBy(t => t.Key))
        {
            var why = accepted.Contains(service)
                ? "nothing of it is served from this pod (no ready endpoint, or keepalived has yet to program it)"
                : "it is no longer served: not a LoadBalancer of class portable-lb.io/ipvs, or rejected (see its Warnings)";
            events.Add(new StoryEvent(service, "Withdrawn", $"{podName} withdrew {string.Join(", ", before.Select(a => a.Prefix.ToString()))}: {why}"));
        }
        _told = now;
        return events;
    }

    private static string Routes(ValueList<Announcement> announcements) =>
        string.Join(", ", announcements.Select(a => $"{a.Prefix} (next hop {a.NextHop})"));
}
