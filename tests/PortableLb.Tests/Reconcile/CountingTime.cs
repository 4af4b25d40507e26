using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;

namespace PortableLb.Tests.Reconcile;

/// <summary>Virtual time that counts the timers made on it (each Task.Delay of the loop makes one).</summary>
internal sealed class CountingTime : TimeProvider
{
    private readonly FakeTimeProvider _fake = new();
    private int _created;
    private long _latestDueTicks = long.MaxValue;

    public int TimersCreated => Volatile.Read(ref _created);

    public void Advance(TimeSpan by) => _fake.Advance(by);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Interlocked.Exchange(ref _latestDueTicks, (_fake.GetUtcNow() + dueTime).UtcTicks);
        Interlocked.Increment(ref _created);
        return _fake.CreateTimer(callback, state, dueTime, period);
    }

    public override DateTimeOffset GetUtcNow() => _fake.GetUtcNow();
    public override long GetTimestamp() => _fake.GetTimestamp();
    public override long TimestampFrequency => _fake.TimestampFrequency;

    /// <summary>
    /// Moves virtual time in steps until <paramref name="done"/> completes; after each step it waits (on the wall
    /// clock, bounded) until the code under test has either finished or armed its next timer, so no step races it.
    /// Only for code that keeps one timer at a time.
    /// </summary>
    public async Task RunUntilAsync(Task done, TimeSpan step, TimeSpan atMost)
    {
        for (var moved = TimeSpan.Zero; !done.IsCompleted; moved += step)
        {
            if (moved > atMost) Assert.Fail($"still running after {atMost.TotalSeconds} s of virtual time");
            var timers = TimersCreated;
            Advance(step);
            if (_fake.GetUtcNow().UtcTicks < Interlocked.Read(ref _latestDueTicks)) continue; // its timer has not fired
            var wall = Stopwatch.StartNew();
            while (!done.IsCompleted && TimersCreated == timers && wall.Elapsed < TimeSpan.FromSeconds(5)) await Task.Delay(1);
        }
        await done;
    }
}
